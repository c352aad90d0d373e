"""Our scenario steps on definitions (services/scenario/definitions.py), against the stack
without services (NATS and the simulated fleet, through the official client): a definition's
``failureMessage`` expected (contains, equals, cleared), ``confirm-withdrawal`` reading the
hold's token from the trigger's status and annotating the trigger with it, and ``for`` (an
expectation that must keep holding: it fails as soon as it stops)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.scenario.definitions import MessageExpectation, check_failure_message
from services.scenario.model import load_scenario, parse_steps
from services.scenario.stack import Stack
from services.scenario.steps import StepResult
from shared.api.vocabulary import WITHDRAWAL_CONFIRM_ANNOTATION
from shared.kube import GVK

FOLDER = Path(__file__).parent / "scenarios" / "withdrawal-guard"
TRIGGER = GVK("lib.projectsveltos.io/v1beta1", "EventTrigger")
CONFIG_MAP = GVK("v1", "ConfigMap")
HELD = (
    "withdrawal of 8 of 8 instances held since 2026-12-03T20:31:02Z (one change would "
    "withdraw more than 50% and more than 5 of its instances): nothing of it is withdrawn "
    "until it is confirmed with `kubectl annotate eventtrigger web-addons "
    f"{WITHDRAWAL_CONFIRM_ANNOTATION}=3f9a1c2b7d40 --overwrite`, or until the instances come "
    "back (undo the change that withdrew them)"
)
DEFINITION = {"kind": "EventTrigger", "name": "web-addons"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    scenario = load_scenario(FOLDER)
    with Stack(
        scenario.fleet,
        scenario.management_dir,
        crds_dir=scenario.crds_dir,
        state_dir=tmp_path_factory.mktemp("stack"),
        services=False,
        ready_timeout=30,
    ) as running:
        yield running


def run(stack: Stack, steps: list[dict[str, Any]], timeout: float = 0.5) -> list[StepResult]:
    return stack.run_steps(parse_steps({"steps": steps}), FOLDER, timeout=timeout)


def say(stack: Stack, message: str) -> None:
    stack.management.patch_status(TRIGGER, None, "web-addons", {"failureMessage": message})


def test_check_failure_message() -> None:
    live = {"status": {"failureMessage": "a held b"}}
    assert check_failure_message(live, MessageExpectation(contains="held")) == []
    assert check_failure_message(live, MessageExpectation(equals="a held b")) == []
    assert check_failure_message({"status": {}}, None) == []
    (problem,) = check_failure_message(live, None)
    assert problem == "status.failureMessage is not cleared: 'a held b'"
    (problem,) = check_failure_message(live, MessageExpectation(contains="8 of 8"))
    assert problem == "status.failureMessage does not contain '8 of 8': 'a held b'"
    (problem,) = check_failure_message({}, MessageExpectation(contains="x"))
    assert problem == "status.failureMessage is empty; expected it contains 'x'"
    assert check_failure_message(None, None) == [
        "missing: no such definition in the management cluster"
    ]


def test_a_hold_is_expected_then_confirmed_with_the_token_of_the_status(stack: Stack) -> None:
    say(stack, HELD)
    expect = {"definition": DEFINITION, "failureMessage": {"contains": "8 of 8 instances held"}}
    held, confirmed = run(
        stack, [{"expect": expect}, {"confirm-withdrawal": {"trigger": "web-addons"}}]
    )
    assert held.ok and confirmed.ok, (held.error, confirmed.error)
    live = stack.management.get(TRIGGER, None, "web-addons")
    assert live is not None
    assert live["metadata"]["annotations"][WITHDRAWAL_CONFIRM_ANNOTATION] == "3f9a1c2b7d40"
    assert confirmed.changes == [
        f"EventTrigger web-addons was annotated {WITHDRAWAL_CONFIRM_ANNOTATION}=3f9a1c2b7d40 "
        "(confirming the withdrawal of 8 of 8 instances)"
    ]
    say(stack, "")
    (cleared,) = run(stack, [{"expect": {"definition": DEFINITION, "failureMessage": None}}])
    assert cleared.ok, cleared.error


def test_a_status_that_does_not_say_it_fails_with_what_it_says(stack: Stack) -> None:
    say(stack, "something else")
    expect = {"definition": DEFINITION, "failureMessage": {"contains": "held"}}
    (result,) = run(stack, [{"expect": expect}], timeout=0.2)
    assert not result.ok
    assert "not true after 0.2 s" in result.error
    assert "does not contain 'held': 'something else'" in result.error
    (cleared,) = run(stack, [{"expect": {"definition": DEFINITION, "failureMessage": None}}], 0.2)
    assert not cleared.ok and "is not cleared: 'something else'" in cleared.error
    say(stack, "")


def test_confirming_without_a_hold_fails_after_the_deadline(stack: Stack) -> None:
    say(stack, "")
    (result,) = run(stack, [{"confirm-withdrawal": {"trigger": "web-addons"}}], timeout=0.2)
    assert not result.ok
    assert "no withdrawal of EventTrigger web-addons is held after 0.2 s" in result.error
    (missing,) = run(stack, [{"confirm-withdrawal": {"trigger": "nothing"}}], timeout=0.1)
    assert not missing.ok and "it does not exist" in missing.error


def test_for_holds_for_the_duration_and_fails_as_soon_as_it_stops(stack: Stack) -> None:
    gone = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default", "name": "late"}
    expect = {"cluster": "default/cluster-a", "absent": [gone], "for": 0.3}
    (kept,) = run(stack, [{"expect": expect}])
    assert kept.ok and kept.duration_ms >= 300, kept.error

    client = stack.client("default/cluster-a")
    late = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": "default", "name": "late"},
    }
    created = threading.Timer(0.2, client.apply, (late,), {"field_manager": "test"})
    created.start()
    try:
        (broken,) = run(stack, [{"expect": expect | {"for": 5}}])
    finally:
        created.join()
        client.delete(CONFIG_MAP, "default", "late")
    assert not broken.ok
    assert broken.error.startswith("held, then no longer after ")
    assert broken.duration_ms < 3000  # failed when it stopped holding, not at the end
    assert "still exists" in broken.error
