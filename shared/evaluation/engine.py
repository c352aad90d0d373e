"""A compiled EventSource: "is this object an event?".

:func:`compile_event_source` turns an :class:`~shared.api.eventsource.EventSource` into a
:class:`CompiledEventSource` (Lua compiled once, CEL parsed once, filters as tuples).

Per object (:meth:`CompiledEventSource.evaluate`), for every resourceSelector whose
group/version/kind, namespace, name, labelFilters and selector accept it
(:meth:`~CompiledEventSource.selects`), sveltos-semantics.md §1.6 decides:

==========  =====  ===================================================
CEL rules   Lua    result
==========  =====  ===================================================
none        none   match
none        set    the Lua result
set         none   the CEL result (rules ORed; an erroring rule is false)
set         set    CEL true -> match, otherwise the Lua result
==========  =====  ===================================================

Selectors are ORed and an object counts once. A Lua error on a selector makes the result an
ERROR (``MatchResult.error``; the caller keeps the object's previous state) unless another
selector matches. Objects with ``metadata.deletionTimestamp`` never match.

Thread-safety: a CompiledEventSource owns one Lua runtime whose calls are serialised by a
lock, so sharing it between threads is safe but runs one Lua evaluation at a time; for
parallel evaluation compile one per worker thread. It keeps no per-object state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.api.eventsource import EventSource
from shared.evaluation.cel import CelRules
from shared.evaluation.convert import restore
from shared.evaluation.errors import InvalidEventSource, LuaScriptError
from shared.evaluation.matching import SelectorFilter, identity
from shared.evaluation.sandbox import Limits, LuaSandbox

#: script id of aggregatedSelection in the sandbox (resourceSelectors use their index)
AGGREGATE_ID = -1


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Whether one object is an event. ``error`` set: unknown, keep the previous state."""

    matching: bool
    message: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AggregateResult:
    """The matching set computed by aggregatedSelection. ``error`` set: keep the previous set."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Selector:
    filter: SelectorFilter
    lua: bool
    cel: CelRules | None


@dataclass(frozen=True, slots=True)
class _Criterion:
    subject: re.Pattern[str] | None
    source: re.Pattern[str] | None
    type: re.Pattern[str] | None
    event_subject: re.Pattern[str] | None


def _regex(pattern: str, name: str, where: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidEventSource(
            name, where, f"invalid regular expression {pattern!r}: {exc}"
        ) from exc


def _search(pattern: re.Pattern[str] | None, value: Any) -> bool:
    return pattern is None or pattern.search(value if isinstance(value, str) else "") is not None


class CompiledEventSource:
    """An EventSource ready to evaluate objects. Build it with :func:`compile_event_source`."""

    def __init__(self, source: EventSource, limits: Limits | None = None) -> None:
        self.source = source
        self.name = source.metadata.name
        spec = source.spec
        self.collect_resources = spec.collect_resources
        self.gvks: list[tuple[str, str, str]] = []
        #: problems that do not stop evaluation (e.g. a CEL rule that does not compile)
        self.warnings: list[str] = []
        self._sandbox: LuaSandbox | None = None
        self._limits = limits
        self._selectors: list[_Selector] = []
        self._by_type: dict[tuple[str, str], list[_Selector]] = {}

        for index, sel in enumerate(spec.resource_selectors):
            gvk = (sel.group, sel.version, sel.kind)
            if gvk not in self.gvks:
                self.gvks.append(gvk)
            lua = bool(sel.evaluate.strip())
            if lua:
                self._compile_lua(index, sel.evaluate, f"resourceSelectors[{index}].evaluate")
            cel = None
            if sel.evaluate_cel:
                cel = CelRules(
                    [(r.name, r.rule) for r in sel.evaluate_cel],
                    f"resourceSelectors[{index}].evaluateCEL",
                )
                self.warnings.extend(cel.problems)
            compiled = _Selector(SelectorFilter.compile(index, sel), lua, cel)
            self._selectors.append(compiled)
            key = (compiled.filter.api_version, compiled.filter.kind)
            self._by_type.setdefault(key, []).append(compiled)

        self.has_aggregation = bool(spec.aggregated_selection.strip())
        if self.has_aggregation:
            self._compile_lua(AGGREGATE_ID, spec.aggregated_selection, "aggregatedSelection")

        self._criteria = [
            _Criterion(
                _regex(c.subject, self.name, f"messagingMatchCriteria[{i}].subject"),
                _regex(
                    c.cloud_event_source, self.name, f"messagingMatchCriteria[{i}].cloudEventSource"
                ),
                _regex(
                    c.cloud_event_type, self.name, f"messagingMatchCriteria[{i}].cloudEventType"
                ),
                _regex(
                    c.cloud_event_subject,
                    self.name,
                    f"messagingMatchCriteria[{i}].cloudEventSubject",
                ),
            )
            for i, c in enumerate(spec.messaging_match_criteria)
        ]

    # --- compilation ----------------------------------------------------------------------

    def _compile_lua(self, script_id: int, code: str, where: str) -> None:
        if self._sandbox is None:
            self._sandbox = LuaSandbox(self._limits)
        try:
            self._sandbox.compile(script_id, code, where)
        except LuaScriptError as exc:
            raise InvalidEventSource(self.name, where, exc.message, exc.line) from exc

    # --- per object -------------------------------------------------------------------------

    def selects(self, obj: Mapping[str, Any]) -> list[int]:
        """Indices of the resourceSelectors whose gvk/namespace/name/labels accept ``obj``."""
        candidates = self._by_type.get((obj.get("apiVersion") or "", obj.get("kind") or ""))
        if not candidates:
            return []
        md = obj.get("metadata") or {}
        if type(md) is not dict:
            md = {}
        labels = md.get("labels") or {}
        if type(labels) is not dict:
            labels = {}
        namespace = md.get("namespace") or ""
        name = md.get("name") or ""
        return [s.filter.index for s in candidates if s.filter.accepts(namespace, name, labels)]

    def evaluate(self, obj: dict[str, Any]) -> MatchResult:
        """Is ``obj`` an event for this EventSource? Never raises for script problems."""
        md = obj.get("metadata") or {}
        if type(md) is dict and md.get("deletionTimestamp"):
            return MatchResult(False, "object is being deleted")
        indices = self.selects(obj)
        if not indices:
            return MatchResult(False, "no resourceSelector selects this object")
        errors: list[str] = []
        message = ""
        for index in indices:
            matched, msg, error = self._evaluate_selector(self._selectors[index], obj)
            if error is not None:
                errors.append(error)
            elif matched:
                return MatchResult(True, msg)
            elif msg and not message:
                message = msg
        if errors:
            return MatchResult(False, "", "; ".join(errors))
        return MatchResult(False, message)

    def _evaluate_selector(
        self, sel: _Selector, obj: dict[str, Any]
    ) -> tuple[bool, str, str | None]:
        if sel.cel is not None:
            rule = sel.cel.first_match(obj)
            if rule is not None:
                return True, f"CEL rule {rule!r} matched", None
            if not sel.lua:
                return False, "no CEL rule matched", None
        if not sel.lua:
            return True, "", None
        assert self._sandbox is not None
        outcome = self._sandbox.evaluate(sel.filter.index, obj)
        if outcome.error is not None:
            return False, "", f"EventSource {self.name!r}: {outcome.error}"
        return outcome.matching, outcome.message, None

    # --- aggregatedSelection ----------------------------------------------------------------

    def aggregate(self, objs: list[dict[str, Any]], prefiltered: bool = False) -> AggregateResult:
        """The matching set over ``objs`` (every candidate object of this EventSource).

        Unless ``prefiltered``, each object first goes through :meth:`evaluate` (a per-object
        error makes the whole result an error: the set cannot be known). Duplicates (same
        apiVersion/kind/namespace/name) count once. Without ``aggregatedSelection`` the
        result is the filtered list. With it, the script's ``resources`` become the set, as
        the script returned them (a script may add labels, as the docs' MCS example does):
        an input object the script did not change is given back as the very same dict, a
        changed one as converted data with the Lua round-trip losses undone (``[]`` stays a
        list, floats stay floats); objects the script built are converted data. A missing
        or empty ``resources`` means no match.
        """
        seen: set[tuple[str, str, str, str]] = set()
        selected: list[dict[str, Any]] = []
        for obj in objs:
            ident = identity(obj)
            if ident in seen:
                continue
            seen.add(ident)
            if not prefiltered:
                result = self.evaluate(obj)
                if result.error is not None:
                    return AggregateResult(error=f"{'/'.join(ident)}: {result.error}")
                if not result.matching:
                    continue
            selected.append(obj)
        if not self.has_aggregation:
            return AggregateResult(selected)
        assert self._sandbox is not None
        outcome = self._sandbox.aggregate(AGGREGATE_ID, selected)
        if outcome.error is not None:
            return AggregateResult(error=f"EventSource {self.name!r}: {outcome.error}")
        out: list[dict[str, Any]] = []
        taken: set[tuple[str, str, str, str]] = set()
        for origin, data in outcome.items:
            if origin is not None:
                data = restore(data, selected[origin])
            ident = identity(data)
            if not ident[3]:  # a nameless object built by the script: nothing to dedupe on
                out.append(data)
            elif ident not in taken:
                taken.add(ident)
                out.append(data)
        return AggregateResult(out, outcome.message)

    # --- CloudEvents -------------------------------------------------------------------------

    def match_cloud_event(self, subject: str, event: Mapping[str, Any]) -> bool:
        """Does a CloudEvent received on NATS ``subject`` match messagingMatchCriteria?

        Criteria are ORed, the fields of one criterion ANDed; each field is an unanchored
        regular expression on the NATS subject / the event's ``source``, ``type``,
        ``subject``; an empty field matches anything. No criteria: no CloudEvent matches.
        """
        for c in self._criteria:
            if (
                _search(c.subject, subject)
                and _search(c.source, event.get("source"))
                and _search(c.type, event.get("type"))
                and _search(c.event_subject, event.get("subject"))
            ):
                return True
        return False

    def memory_used(self) -> int:
        """Bytes held by this EventSource's Lua runtime (0 without Lua)."""
        return self._sandbox.memory_used() if self._sandbox is not None else 0


def compile_event_source(source: EventSource, limits: Limits | None = None) -> CompiledEventSource:
    """Compile ``source``. Raises :class:`InvalidEventSource` (name, field, Lua line)."""
    return CompiledEventSource(source, limits)
