"""The Helm releases of a profile: what an apply does with them (pure: no I/O, no Helm SDK).

A profile's ``helmCharts`` (:attr:`~shared.contract.messages.DesiredState.helm_charts`) are
installed, upgraded or uninstalled after its objects, one release at a time, in the
profile's order (:func:`plan_charts`):

- each desired chart is applied as its ``helmChartAction`` says (``Install``: install or
  upgrade; ``Uninstall``: uninstall that release);
- then every release the profile held before and no longer desires is uninstalled (a
  *prune*). A prune (or a removal) of a release that is not Ripple's, or belongs to another
  owner, leaves it in place: it is no longer the profile's (as an object another profile
  took over is never pruned).

What a profile *holds* (:class:`Held`) is read from its outcome (:func:`held_of`): every
release listed there whose status is not ``uninstalled`` or ``absent``. A write-ahead
(``Provisioning``) outcome lists the previous releases and the desired ones with an empty
hash and status: an agent killed mid-apply still uninstalls them when the profile goes.

:func:`release_outcome` turns what the SDK answered into the outcome's
:class:`~shared.contract.messages.ReleaseOutcome` (a DryRun says what would change);
:func:`failed_outcome` says why a release failed. With drift detection, the objects of each
release's manifest (:func:`release_objects`) are tracked like the profile's own objects; a
release whose objects drifted is upgraded again (``force``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.helm.releases import ReleaseResult, objects

GONE = ("uninstalled", "absent")
"""Release statuses that mean the profile holds nothing there."""

Ref = tuple[str, str]  # (namespace, name)
ReleaseObjects = dict[ObjectKey, tuple[Ref, dict[str, Any]]]  # object -> (release, manifest)


@dataclass(frozen=True)
class Held:
    """A release the profile holds (or may have left behind), with the chart hash it was
    applied with ("" when an apply may have changed it)."""

    namespace: str
    name: str
    hash: str = ""

    @property
    def ref(self) -> Ref:
        return (self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


Releases = tuple[Held, ...]


@dataclass(frozen=True)
class ChartStep:
    """One Helm operation of an apply: a desired chart (``chart``: the instantiated entry,
    applied as its ``helmChartAction`` says), or the uninstall of a release held before and
    no longer desired (``chart`` None: a prune)."""

    namespace: str
    name: str
    hash: str = ""
    chart: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    force: bool = False  # upgrade even when unchanged (its objects drifted)

    @property
    def ref(self) -> Ref:
        return (self.namespace, self.name)

    @property
    def prune(self) -> bool:
        return self.chart is None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.name else "helmCharts entry"


@dataclass
class ReleasesDone:
    """What the Helm steps of one apply did: the outcome of each release, the releases
    positively not the profile's (uninstalled, or another owner's), the failures."""

    outcomes: list[m.ReleaseOutcome] = field(default_factory=list)
    foreign: set[Ref] = field(default_factory=set)  # not the profile's: left in place
    errors: list[str] = field(default_factory=list)
    terminal: int = 0  # failures retrying cannot fix (HelmTerminal)
    notes: list[str] = field(default_factory=list)  # what a DryRun would change
    objects: ReleaseObjects = field(default_factory=dict)  # with drift detection

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def plan_charts(
    charts: Sequence[m.DesiredChart], previous: Releases, force: frozenset[Ref] = frozenset()
) -> tuple[tuple[ChartStep, ...], Releases]:
    """The Helm steps of an apply, in order, and everything they may leave behind (the
    previous releases and the desired ones, hash ""). Releases in ``force`` are upgraded
    even when unchanged."""
    steps = [
        ChartStep(
            *c.release,
            hash=c.hash,
            chart=dict(c.chart),
            values=dict(c.values),
            force=c.release in force,
        )
        for c in charts
    ]
    wanted = {s.ref for s in steps}
    steps += [ChartStep(h.namespace, h.name) for h in previous if h.ref not in wanted]
    intent: dict[Ref, Held] = {h.ref: Held(h.namespace, h.name) for h in previous}
    for step in steps:
        if step.name and step.namespace:  # an entry without a release leaves nothing
            intent.setdefault(step.ref, Held(step.namespace, step.name))
    return tuple(steps), tuple(intent.values())


def held_of(outcomes: Iterable[m.ReleaseOutcome]) -> Releases:
    """The releases an outcome says the profile holds (or may have left behind)."""
    found: dict[Ref, Held] = {}
    for r in outcomes:
        if r.status not in GONE:
            found[(r.namespace, r.name)] = Held(r.namespace, r.name, r.hash)
        else:
            found.pop((r.namespace, r.name), None)
    return tuple(found.values())


def settle(intent: Releases, done: ReleasesDone, ok: bool) -> Releases:
    """The releases held after an apply: what the steps left (success, DryRun), or, after a
    failure, also everything the apply may have left behind (``intent``), less what is
    positively gone or another owner's."""
    after = {h.ref: h for h in held_of(done.outcomes)}
    if ok:
        return tuple(after.values())
    gone = {(r.namespace, r.name) for r in done.outcomes if r.status in GONE} | done.foreign
    kept = {h.ref: h for h in intent if h.ref not in gone}
    kept.update(after)
    return tuple(kept.values())


def listed(intent: Releases, done: ReleasesDone) -> list[m.ReleaseOutcome]:
    """The releases of an outcome: each step's, then any other the apply may have left."""
    seen = {(r.namespace, r.name) for r in done.outcomes} | done.foreign
    rest = [
        m.ReleaseOutcome(namespace=h.namespace, name=h.name, hash=h.hash)
        for h in intent
        if h.ref not in seen
    ]
    return [*done.outcomes, *rest]


def write_ahead(intent: Releases) -> list[m.ReleaseOutcome]:
    return [m.ReleaseOutcome(namespace=h.namespace, name=h.name) for h in intent]


def release_outcome(step: ChartStep, result: ReleaseResult) -> m.ReleaseOutcome:
    """The outcome of one release from what the SDK answered."""
    message = result.reason if result.action == "none" else ""
    if result.dry_run:
        message = dry_run_note(result)
    if result.warnings:
        message = "; ".join([message, *result.warnings] if message else result.warnings)
    return m.ReleaseOutcome(
        namespace=result.namespace or step.namespace,
        name=result.release or step.name,
        hash="" if result.status in GONE else step.hash,
        chart_name=result.chart_name,
        chart_version=result.chart_version,
        app_version=result.app_version,
        revision=result.revision,
        status=result.status,
        action=result.action,
        message=message,
    )


def add_result(done: ReleasesDone, step: ChartStep, result: ReleaseResult) -> None:
    """Record what the SDK did (or, in a DryRun, would do) to ``step``'s release."""
    out = release_outcome(step, result)
    done.outcomes.append(out)
    if result.dry_run:
        done.notes.append(f"release {out.namespace}/{out.name}: {out.message}")


def add_failure(
    done: ReleasesDone, step: ChartStep, message: str, *, terminal: bool, conflict: bool = False
) -> None:
    """Record that ``step`` failed (``terminal``: retrying with this input cannot help;
    ``conflict``: another owner holds the release)."""
    done.outcomes.append(failed_outcome(step, message, conflict))
    done.errors.append(message)
    done.terminal += terminal


def dry_run_note(result: ReleaseResult) -> str:
    """What a DryRun would do to a release: ``would upgrade (values changed): 0 added, 1
    changed, 0 removed, 1 unchanged``, or ``no change``."""
    if result.action == "none":
        return "dry run: no change"
    what = f"dry run: would {result.action}"
    if result.reason:
        what += f" ({result.reason})"
    if result.diff is not None:
        what += f": {result.diff.summary()}"
    return what


def release_objects(
    ref: Ref, manifest: str, namespaced: Callable[[str, str], bool]
) -> ReleaseObjects:
    """The objects of a release's manifest (hooks left out), by key; a namespaced object
    without a namespace is in the release's (``namespaced(apiVersion, kind)``)."""
    out: ReleaseObjects = {}
    for text in objects(manifest).values():
        obj = json.loads(text)
        meta = obj.setdefault("metadata", {})
        if not meta.get("namespace") and namespaced(obj.get("apiVersion", ""), obj["kind"]):
            meta["namespace"] = ref[0]
        out[ObjectKey.of(obj)] = (ref, obj)
    return out


def failed_outcome(step: ChartStep, message: str, conflict: bool = False) -> m.ReleaseOutcome:
    """A release whose operation failed (its status unknown: the profile may hold it)."""
    return m.ReleaseOutcome(
        namespace=step.namespace,
        name=step.name,
        action="uninstall" if step.prune else "",
        message=message,
        conflict=conflict,
    )


__all__ = [
    "GONE",
    "ChartStep",
    "Held",
    "Ref",
    "ReleaseObjects",
    "Releases",
    "ReleasesDone",
    "add_failure",
    "add_result",
    "dry_run_note",
    "failed_outcome",
    "held_of",
    "listed",
    "plan_charts",
    "release_objects",
    "release_outcome",
    "settle",
    "write_ahead",
]
