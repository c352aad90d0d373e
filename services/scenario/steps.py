"""Execution of scenario steps against a running :class:`~services.scenario.stack.Stack`
(seen through :class:`StackView`: the stack runs the steps, the steps do not import it).

- ``apply``: server-side apply (field manager ``scenario``) of every object of the file in the
  managed cluster; ``delete``: delete one object (fails when it does not exist); ``label``:
  merge-patch the labels of the cluster's registration in the management cluster (``null``
  removes); ``manage``: apply or delete every object of a file in the management cluster.
- ``expect``: poll (every few ms) until everything it names holds (each object, release or
  definition is a probe: :mod:`services.scenario.probes`): every ``present`` object holds
  (:func:`services.scenario.compare.check_deployed`), every ``absent`` object is gone, every
  release of ``releases`` holds and every one of ``absentReleases`` is gone (read from Helm's
  storage Secrets: :mod:`services.scenario.releases`), or until the deadline (10 s by
  default). A release "appeared", "was updated" (a new revision) or "was removed" as an
  object does. A ``definition`` is read from the management cluster: its
  ``status.failureMessage`` must contain (equal) the text, or be empty (``null``)
  (:mod:`services.scenario.definitions`). With ``for: SECONDS``, once everything holds it must
  keep holding for that long: the step fails at the first poll where it does not.
- ``confirm-withdrawal``: wait (up to the deadline) for the trigger's status to show a held
  withdrawal's token, and annotate the trigger with it, as a user does.

Timings (milliseconds): ``duration_ms`` is the step's own wall time. For an ``expect``,
``latency_ms`` is measured from the end of the first action since the previous ``expect``
(the first event of the batch the expectation reacts to) to the poll at which everything
held — the event-to-add-on latency as a user sees it; each item also records when it first
held (``held_ms``, same origin). Only the first ``expect`` after a batch of actions
(``first_in_batch``) measures that batch; the latency statistics use only those in which
something appeared, changed or went (``measures_change``). Before the actions of a batch, the runner notes which objects
the following expectations name already exist, so results can say "appeared", "was updated" or
"was removed".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from services.scenario.definitions import ConfirmWithdrawalStep, confirm_withdrawal
from services.scenario.model import (
    MANAGEMENT,
    ApplyStep,
    DeleteStep,
    ExpectStep,
    FleetCluster,
    LabelStep,
    ManageStep,
    ObjectRef,
    Step,
    read_objects,
)
from services.scenario.probes import expect_probes, judge, namespace_in, version
from services.scenario.results import UNKNOWN
from services.scenario.results import ItemResult as ItemResult
from services.scenario.results import StepResult as StepResult
from shared.errors import RippleError
from shared.kube import GVK, KubeClient, KubeError, object_key

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.005
FIELD_MANAGER = "scenario"


class StackView(Protocol):
    """What the steps use of a running :class:`~services.scenario.stack.Stack`."""

    @property
    def management(self) -> KubeClient: ...

    def client(self, cluster: str) -> KubeClient: ...

    def registration(self, cluster: str) -> tuple[GVK, FleetCluster]: ...

    def apply_management(
        self, objects: list[dict[str, Any]], sources: dict[int, str] | None = None
    ) -> list[dict[str, Any]]: ...

    def log_tails(self, cluster: str | None = None, lines: int | None = None) -> str: ...


def _short(cluster: str) -> str:
    return cluster.rpartition("/")[2] if cluster != MANAGEMENT else "the management cluster"


class StepRunner:
    """Runs steps in order against a stack (see the module doc)."""

    def __init__(self, stack: StackView, base_dir: Path, *, timeout: float = 10.0) -> None:
        self.stack = stack
        self.base_dir = base_dir
        self.timeout = timeout
        self._origin: float | None = None
        self._trigger = ""
        self._before: dict[tuple[str, str], str] = {}
        self._expects_in_batch = 0

    # -- driver ----------------------------------------------------------------------------------
    def run(
        self,
        steps: list[Step],
        *,
        fail_fast: bool = False,
        on_result: Callable[[StepResult], None] | None = None,
    ) -> list[StepResult]:
        results: list[StepResult] = []
        failed = False
        for i, step in enumerate(steps):
            if failed and fail_fast:
                result = StepResult(
                    step, ok=False, skipped=True, error="not run: an earlier step failed"
                )
            else:
                if not step.is_expect and (i == 0 or steps[i - 1].is_expect):
                    self._start_batch(steps[i:])
                result = self.run_step(step)
            failed = failed or not result.ok
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def _start_batch(self, rest: list[Step]) -> None:
        """A new batch of actions begins: reset the latency origin and note which objects the
        following expectations name exist now."""
        self._origin = None
        self._trigger = ""
        self._before = {}
        self._expects_in_batch = 0
        following = rest
        while following and not following[0].is_expect:
            following = following[1:]
        for step in following:
            if not isinstance(step.action, ExpectStep):
                break
            for probe in expect_probes(step.action, self.base_dir):
                try:
                    self._before[(probe.cluster, probe.what)] = version(self._client, probe)
                except KubeError:
                    pass

    def run_step(self, step: Step) -> StepResult:
        start = time.monotonic()
        action = step.action
        try:
            if isinstance(action, ExpectStep):
                return self._expect(step, action, start)
            if isinstance(action, ApplyStep):
                changes = self._apply(action)
            elif isinstance(action, DeleteStep):
                changes = self._delete(action)
            elif isinstance(action, LabelStep):
                changes = self._label(action)
            elif isinstance(action, ManageStep):
                changes = self._manage(action)
            elif isinstance(action, ConfirmWithdrawalStep):
                changes = confirm_withdrawal(self.stack.management, action, self.timeout)
            else:  # pragma: no cover - the model admits no other action
                raise TypeError(f"unknown step {action!r}")
        except (RippleError, OSError, ValueError) as err:
            return StepResult(
                step,
                ok=False,
                duration_ms=(time.monotonic() - start) * 1000,
                error=f"{step.describe()}: {err}",
                logs=self.stack.log_tails(getattr(action, "cluster", None)),
            )
        end = time.monotonic()
        if self._origin is None:
            self._origin = end
            self._trigger = changes[0] if changes else step.describe()
        return StepResult(step, ok=True, duration_ms=(end - start) * 1000, changes=changes)

    # -- actions ---------------------------------------------------------------------------------
    def _client(self, cluster: str) -> KubeClient:
        return self.stack.client(cluster)

    def _apply_objects(self, cluster: str, objects: list[dict[str, Any]]) -> list[str]:
        client = self._client(cluster)
        changes = []
        for obj in objects:
            gvk, key = GVK.of(obj), object_key(obj)
            ns = namespace_in(client, gvk, key.namespace)
            existed = client.get(gvk, ns, key.name) is not None
            client.apply(obj, field_manager=FIELD_MANAGER)
            what = f"{gvk.kind} {ns + '/' if ns else ''}{key.name}"
            verb = "updated" if existed else "created"
            changes.append(f"{what} was {verb} in {_short(cluster)}")
        return changes

    def _apply(self, action: ApplyStep) -> list[str]:
        return self._apply_objects(action.cluster, read_objects(self.base_dir / action.file))

    def _delete_object(self, cluster: str, ref: ObjectRef) -> str:
        client = self._client(cluster)
        gvk = GVK(ref.api_version, ref.kind)
        ns = namespace_in(client, gvk, ref.namespace)
        if not client.delete(gvk, ns, ref.name):
            raise ValueError(f"{ref} does not exist in {cluster}")
        return f"{ref} was deleted from {_short(cluster)}"

    def _delete(self, action: DeleteStep) -> list[str]:
        return [self._delete_object(action.cluster, action.object)]

    def _label(self, action: LabelStep) -> list[str]:
        gvk, entry = self.stack.registration(action.cluster)
        self.stack.management.merge_patch(
            gvk, entry.namespace, entry.name, {"metadata": {"labels": dict(action.labels)}}
        )
        parts = [f"{k}-" if v is None else f"{k}={v}" for k, v in action.labels.items()]
        return [f"cluster {entry.name} was relabelled {' '.join(parts)}"]

    def _manage(self, action: ManageStep) -> list[str]:
        objects = read_objects(self.base_dir / action.file)
        if action.apply is not None:
            self.stack.apply_management(objects)
            return [
                f"{o['kind']} {object_key(o).name} applied to the management cluster"
                for o in objects
            ]
        changes = []
        for obj in objects:
            key = object_key(obj)
            ref = ObjectRef.model_validate(
                {
                    "apiVersion": key.api_version,
                    "kind": key.kind,
                    "namespace": key.namespace,
                    "name": key.name,
                }
            )
            changes.append(self._delete_object(MANAGEMENT, ref))
        return changes

    # -- expectations ----------------------------------------------------------------------------
    def _expect(self, step: Step, action: ExpectStep, start: float) -> StepResult:
        origin = self._origin if self._origin is not None else start
        first = self._origin is not None and self._expects_in_batch == 0
        self._expects_in_batch += 1
        probes = expect_probes(action, self.base_dir)
        items = [
            ItemResult(
                p.what,
                p.mode,
                p.cluster,
                before=self._before.get((p.cluster, p.what), UNKNOWN),
            )
            for p in probes
        ]
        deadline = start + self.timeout
        held_at: float | None = None  # with ``for``: when everything first held
        while True:
            now_problems = [judge(self._client, p) for p in probes]
            now = time.monotonic()
            for item, (problems, rv, detail) in zip(items, now_problems, strict=True):
                item.problems = problems
                item.after = rv
                item.detail = detail
                item.ok = not problems
                if item.ok and item.held_ms is None:
                    item.held_ms = (now - origin) * 1000
                elif not item.ok:
                    item.held_ms = None
            held = all(item.ok for item in items)
            if held and held_at is None:
                held_at = now
            if held and (action.for_ is None or now - (held_at or now) >= action.for_):
                return StepResult(
                    step,
                    ok=True,
                    duration_ms=(now - start) * 1000,
                    latency_ms=((held_at or now) - origin) * 1000,
                    items=items,
                    trigger=self._trigger,
                    first_in_batch=first,
                )
            if (held_at is not None and not held) or (held_at is None and now >= deadline):
                break
            time.sleep(POLL_INTERVAL)
        failing = [i for i in items if not i.ok]
        lines = [f"not true after {self.timeout:g} s:"]
        if held_at is not None:
            lines = [f"held, then no longer after {now - held_at:.2f} s of {action.for_:g} s:"]
        for item in failing:
            lines.append(f"  {item.what} ({item.mode} in {item.cluster}):")
            lines += [f"    - {p}" for p in item.problems]
        return StepResult(
            step,
            ok=False,
            duration_ms=(time.monotonic() - start) * 1000,
            items=items,
            trigger=self._trigger,
            first_in_batch=first,
            error="\n".join(lines),
            logs=self.stack.log_tails(action.cluster),
        )
