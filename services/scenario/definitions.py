"""Steps on the definitions of the management cluster (our extension of the scenario format,
see ``services/scenario/README.md``): what a definition's status says, and confirming a
withdrawal the withdrawal guard holds, as a user does.

- ``expect: {definition: {kind, name}, failureMessage: {contains: TEXT} | {equals: TEXT} |
  null}``: the definition's ``status.failureMessage`` contains (equals) the text, or is empty
  (``null``: cleared). :func:`check_failure_message` judges one read of the definition.
- ``confirm-withdrawal: {trigger: NAME, kind: EventTrigger}``: read the hold's token from the
  trigger's ``status.failureMessage`` (the ``kubectl annotate ... ripple.io/confirm-withdrawal=
  TOKEN`` it shows, waiting for it up to the step deadline) and annotate the trigger with it
  (:func:`confirm_withdrawal`).

Models are pure; the two functions read and patch through the management cluster's official
client.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.scenario.errors import ScenarioError
from shared.api.vocabulary import EVENT_BASED_ADDON, EVENT_TRIGGER, WITHDRAWAL_CONFIRM_ANNOTATION
from shared.kube import GVK, KubeClient

POLL = 0.02  # seconds between two reads of a trigger waiting for its hold's token
TriggerKind = Literal["EventTrigger", "EventBasedAddOn"]
_GVKS = {"EventTrigger": GVK(*EVENT_TRIGGER), "EventBasedAddOn": GVK(*EVENT_BASED_ADDON)}
_TOKEN = re.compile(rf"{re.escape(WITHDRAWAL_CONFIRM_ANNOTATION)}=([0-9a-f]+)")
_HELD = re.compile(r"withdrawal of (\d+) of (\d+) instances held")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def definition_gvk(kind: str) -> GVK:
    """The resource of a trigger kind (the served version the manager reads)."""
    return _GVKS[kind]


class DefinitionRef(_Strict):
    """A trigger of the management cluster: ``{kind: EventTrigger|EventBasedAddOn, name}``."""

    kind: TriggerKind = "EventTrigger"
    name: str = Field(min_length=1)

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class MessageExpectation(_Strict):
    """What a ``failureMessage`` must say: ``{contains: TEXT}`` or ``{equals: TEXT}``."""

    contains: str | None = Field(default=None, min_length=1)
    equals: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> MessageExpectation:
        if (self.contains is None) == (self.equals is None):
            raise ValueError("failureMessage needs exactly one of 'contains' or 'equals' (or null)")
        return self

    def describe(self) -> str:
        if self.contains is not None:
            return f"contains {self.contains!r}"
        return f"is {self.equals!r}"


def failure_message(live: dict[str, Any] | None) -> str:
    return str(((live or {}).get("status") or {}).get("failureMessage") or "")


def check_failure_message(
    live: dict[str, Any] | None, expected: MessageExpectation | None
) -> list[str]:
    """Problems of one read of a definition (empty: it holds); ``expected`` None: the
    ``failureMessage`` must be empty (cleared)."""
    if live is None:
        return ["missing: no such definition in the management cluster"]
    message = failure_message(live)
    if expected is None:
        return [f"status.failureMessage is not cleared: {message!r}"] if message else []
    if not message:
        return [f"status.failureMessage is empty; expected it {expected.describe()}"]
    if expected.contains is not None and expected.contains not in message:
        return [f"status.failureMessage does not contain {expected.contains!r}: {message!r}"]
    if expected.equals is not None and expected.equals != message:
        return [f"status.failureMessage is {message!r}, expected {expected.equals!r}"]
    return []


class ConfirmWithdrawalStep(_Strict):
    """Confirm a held withdrawal as a user does: annotate the trigger with the token its
    status shows."""

    action: Literal["confirm-withdrawal"] = "confirm-withdrawal"
    trigger: str = Field(min_length=1)
    kind: TriggerKind = "EventTrigger"

    def describe(self) -> str:
        return f"confirm the withdrawal held for {self.kind} {self.trigger}"


def confirm_withdrawal(
    client: KubeClient, step: ConfirmWithdrawalStep, timeout: float
) -> list[str]:
    """Wait (up to ``timeout`` seconds) until the trigger's status shows a held withdrawal's
    token, then annotate the trigger with it. Raises :class:`ScenarioError` when no token
    shows within the deadline (what the status says instead is in the message)."""
    gvk = definition_gvk(step.kind)
    deadline = time.monotonic() + timeout
    while True:
        live = client.get(gvk, None, step.trigger)
        message = failure_message(live)
        token = _TOKEN.search(message)
        if token is not None:
            break
        if time.monotonic() >= deadline:
            said = f"status.failureMessage is {message!r}" if live else "it does not exist"
            raise ScenarioError(
                f"no withdrawal of {step.kind} {step.trigger} is held after {timeout:g} s "
                f"(no {WITHDRAWAL_CONFIRM_ANNOTATION}=TOKEN in its status): {said}"
            )
        time.sleep(POLL)
    value = token.group(1)
    patch = {"metadata": {"annotations": {WITHDRAWAL_CONFIRM_ANNOTATION: value}}}
    client.merge_patch(gvk, None, step.trigger, patch)
    numbers = _HELD.search(message)
    what = f" of {numbers[1]} of {numbers[2]} instances" if numbers else ""
    return [
        f"{step.kind} {step.trigger} was annotated {WITHDRAWAL_CONFIRM_ANNOTATION}={value} "
        f"(confirming the withdrawal{what})"
    ]


__all__ = [
    "ConfirmWithdrawalStep",
    "DefinitionRef",
    "MessageExpectation",
    "check_failure_message",
    "confirm_withdrawal",
    "definition_gvk",
]
