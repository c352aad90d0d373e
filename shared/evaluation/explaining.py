"""Why an object is (or is not) an event for an EventSource: the engine's decision, explained.

Used by ``ripple explain`` and the manager's ``/v1/explain``; never on the hot path (the
agent calls :meth:`~shared.evaluation.engine.CompiledEventSource.start`, which stops at the
first selector that matches and only returns a message).

:func:`explain_object` gives, for every resourceSelector, whether its cheap part (group,
version, kind, namespace, name, labelFilters, selector) accepts the object and, when it
refuses, the first reason; then, for the selectors that accept it, their own verdict (what
decided: the filters alone, a CEL rule, the Lua script and its ``hs.message``); then the
verdict of the whole EventSource, reached by the engine's rule (:meth:`~CompiledEventSource.evaluate`'s).
:func:`explain_cloud_event` does the same for messagingMatchCriteria and
:func:`explain_aggregation` for aggregatedSelection.

An evaluation error is never "no match": the verdict is then ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.api.vocabulary import ObjectKey
from shared.evaluation.engine import CompiledEventSource
from shared.evaluation.matching import DIFFERENT, DOES_NOT_HAVE, EQUAL, HAS, SelectorFilter
from shared.evaluation.selectors import SelectorOutcome

MATCH, NO_MATCH, UNKNOWN = "match", "no match", "unknown"
_OP_NAMES = {EQUAL: "Equal", DIFFERENT: "Different", HAS: "Has", DOES_NOT_HAVE: "DoesNotHave"}


@dataclass(frozen=True, slots=True)
class SelectorCheck:
    """One resourceSelector's view of an object."""

    index: int
    api_version: str
    kind: str
    selects: bool  # its group/version/kind, namespace, name, labelFilters, selector accept it
    reason: str  # why it does not select the object ("" when it does)
    lua: bool
    cel: bool
    outcome: SelectorOutcome | None = None  # its own verdict, when it selects the object


@dataclass(frozen=True, slots=True)
class ObjectVerdict:
    """The whole EventSource's verdict on one object, and how it was reached."""

    verdict: str  # MATCH | NO_MATCH | UNKNOWN
    decided_by: str  # deletion | resourceSelectors | filters | CEL | Lua | error
    message: str
    error: str | None
    retry: bool
    selectors: tuple[SelectorCheck, ...]


@dataclass(frozen=True, slots=True)
class CloudEventVerdict:
    verdict: str
    message: str
    criteria: tuple[str, ...]  # per criterion, why it refuses ("" when it matches)


@dataclass(frozen=True, slots=True)
class AggregationVerdict:
    """aggregatedSelection over a cluster's candidates: is the object in the set it returns."""

    verdict: str
    message: str  # the script's hs.message
    error: str | None
    size: int  # objects in the set
    resources: tuple[dict[str, Any], ...]


def refusal(f: SelectorFilter, obj: Mapping[str, Any]) -> str:
    """Why a resourceSelector's cheap part refuses ``obj`` ("" when it accepts it)."""
    api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
    if (api_version, kind) != (f.api_version, f.kind):
        return f"selects {f.api_version}/{f.kind}, not {api_version}/{kind}"
    md = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(md, dict)
    namespace, name = md.get("namespace") or "", md.get("name") or ""
    labels = md.get("labels") if isinstance(md.get("labels"), dict) else {}
    assert isinstance(labels, dict)
    if f.namespace and namespace != f.namespace:
        return f"namespace {namespace!r} is not {f.namespace!r}"
    if f.name and name != f.name:
        return f"name {name!r} is not {f.name!r}"
    for op, key, value in f.filters:
        present = key in labels
        held = {
            EQUAL: present and labels[key] == value,
            DIFFERENT: not (present and labels[key] == value),
            HAS: present,
            DOES_NOT_HAVE: not present,
        }[op]
        if not held:
            have = f"is {labels[key]!r}" if present else "is absent"
            shown = f" {value!r}" if op in (EQUAL, DIFFERENT) else ""
            return f"labelFilter {key} {_OP_NAMES[op]}{shown}: label {key!r} {have}"
    if f.selector is not None and not f.selector.matches(labels):
        return f"selector {f.selector.to_string()!r} does not match labels {labels}"
    return ""


def explain_object(compiled: CompiledEventSource, obj: dict[str, Any]) -> ObjectVerdict:
    """Every selector's view of ``obj`` and the EventSource's verdict (the engine's own:
    :meth:`~CompiledEventSource.evaluate`). Lua and CEL run under the usual time limit."""
    checks = []
    for f, lua, cel in compiled.selector_filters():
        why = refusal(f, obj)
        checks.append(SelectorCheck(f.index, f.api_version, f.kind, not why, why, lua, cel))
    md = obj.get("metadata") or {}
    if isinstance(md, dict) and md.get("deletionTimestamp"):
        return ObjectVerdict(
            NO_MATCH, "deletion", "object is being deleted", None, False, tuple(checks)
        )
    if not any(c.selects for c in checks):
        why = "; ".join(f"resourceSelectors[{c.index}]: {c.reason}" for c in checks)
        message = (
            f"no resourceSelector selects this object ({why})"
            if why
            else ("no resourceSelector selects this object (it has none)")
        )
        return ObjectVerdict(NO_MATCH, "resourceSelectors", message, None, False, tuple(checks))
    outcomes, stopped = compiled.each(obj)
    by_index = {o.index: o for o in outcomes}
    checks = [
        SelectorCheck(
            c.index, c.api_version, c.kind, c.selects, c.reason, c.lua, c.cel, by_index.get(c.index)
        )
        for c in checks
    ]
    if stopped is not None:
        return ObjectVerdict(UNKNOWN, "error", "", stopped, True, tuple(checks))
    # the engine's rule (CompiledEventSource._evaluate_selectors): the first selector that
    # matches decides; otherwise an error makes the result unknown; otherwise no match
    decided = next((o for o in outcomes if o.matching and o.error is None), None)
    if decided is not None:
        message = decided.message or _default_message(decided, True)
        return ObjectVerdict(MATCH, decided.decided_by, message, None, False, tuple(checks))
    errors = [o.error for o in outcomes if o.error is not None]
    if errors:
        return ObjectVerdict(UNKNOWN, "error", "", "; ".join(errors), False, tuple(checks))
    said = next((o for o in outcomes if o.message), outcomes[0])
    message = said.message or _default_message(said, False)
    return ObjectVerdict(NO_MATCH, said.decided_by, message, None, False, tuple(checks))


def _default_message(outcome: SelectorOutcome, matching: bool) -> str:
    decided_by = outcome.decided_by
    if decided_by == "filters":
        return (
            f"resourceSelectors[{outcome.index}] selects it (its kind, namespace, name and "
            "label filters decide: no script, no CEL rule)"
        )
    if decided_by == "Lua":
        return "the Lua script returned matching = " + ("true" if matching else "false")
    return "no CEL rule matched" if decided_by == "CEL" and not matching else ""


def explain_cloud_event(
    compiled: CompiledEventSource, subject: str, event: Mapping[str, Any]
) -> CloudEventVerdict:
    """messagingMatchCriteria on a CloudEvent received on NATS ``subject``."""
    reasons = tuple(compiled.criteria.mismatches(subject, event))
    if not reasons:
        return CloudEventVerdict(NO_MATCH, "no messagingMatchCriteria: no CloudEvent matches", ())
    if compiled.match_cloud_event(subject, event):
        first = reasons.index("")
        return CloudEventVerdict(MATCH, f"messagingMatchCriteria[{first}] matches", reasons)
    return CloudEventVerdict(NO_MATCH, "no messagingMatchCriteria entry matches", reasons)


def explain_aggregation(
    compiled: CompiledEventSource, candidates: list[dict[str, Any]], obj: Mapping[str, Any]
) -> AggregationVerdict:
    """aggregatedSelection over ``candidates`` (the cluster's objects of the EventSource's
    kinds, ``obj`` among them): is ``obj`` in the set the script returns."""
    result = compiled.aggregate(candidates)
    if result.error is not None:
        return AggregationVerdict(UNKNOWN, "", result.error, 0, ())
    key = ObjectKey.of(obj)
    inside = any(ObjectKey.of(r) == key for r in result.resources)
    message = result.message or (
        "aggregatedSelection returned it" if inside else "aggregatedSelection left it out"
    )
    return AggregationVerdict(
        MATCH if inside else NO_MATCH,
        message,
        None,
        len(result.resources),
        tuple(result.resources),
    )
