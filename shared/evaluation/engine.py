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

One selector's verdict is :func:`shared.evaluation.selectors.judge`'s. Selectors are ORed
and an object counts once. A Lua error on a selector makes the result an
ERROR (``MatchResult.error``; the caller keeps the object's previous state) unless another
selector matches. Objects with ``metadata.deletionTimestamp`` never match.

Lua and CEL run in the worker thread of the EventSource's
:class:`~shared.evaluation.isolation.Runner` with a hard wall-clock limit (:attr:`Limits.hard_seconds`): :meth:`CompiledEventSource.evaluate`
waits for the result, :meth:`~CompiledEventSource.start` waits as long as the caller allows
and otherwise hands back a :class:`Pending` to poll. A run past the limit is abandoned: the
result is an error with ``retry`` set (unknown: keep the previous state, evaluate again
later) and the runtime is replaced; runs are then refused for a backoff
(:meth:`~CompiledEventSource.unavailable`). Selectors without Lua or CEL are evaluated on
the caller's thread.

Thread-safety: the runner serialises the Lua runs of a CompiledEventSource, so sharing it
between threads is safe but runs one Lua evaluation at a time; for parallel evaluation
compile one per thread. It keeps no per-object state.

CloudEvents are matched by the compiled messagingMatchCriteria
(:class:`~shared.evaluation.messaging.MessagingCriteria`, :attr:`CompiledEventSource.criteria`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.api.eventsource import EventSource
from shared.evaluation.convert import restore
from shared.evaluation.errors import InvalidEventSource, LuaScriptError
from shared.evaluation.isolation import Abandoned, Call, Runner
from shared.evaluation.matching import SelectorFilter, identity
from shared.evaluation.messaging import MessagingCriteria
from shared.evaluation.sandbox import Limits, LuaSandbox
from shared.evaluation.selectors import Selector, SelectorOutcome, judge, outcomes

#: script id of aggregatedSelection in the sandbox (resourceSelectors use their index)
AGGREGATE_ID = -1


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Whether one object is an event. ``error`` set: unknown, keep the previous state;
    ``retry`` set too: unknown for a transient reason (the run exceeded its time limit, or
    runs are suspended), to be evaluated again later."""

    matching: bool
    message: str = ""
    error: str | None = None
    retry: bool = False


@dataclass(frozen=True, slots=True)
class AggregateResult:
    """The matching set computed by aggregatedSelection. ``error`` set: keep the previous set."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    error: str | None = None


class Pending:
    """A Lua evaluation still running in the EventSource's worker thread."""

    __slots__ = ("_call", "_owner", "_runner")

    def __init__(self, owner: CompiledEventSource, runner: Runner, call: Call[MatchResult]) -> None:
        self._owner = owner
        self._runner = runner
        self._call = call

    def overdue(self) -> bool:
        """The run has gone past its hard limit (it is abandoned at the next poll)."""
        call = self._call
        return not call.finished and time.monotonic() > call.deadline

    def poll(self, wait: float = 0.0) -> MatchResult | None:
        """The result once the run is over (waiting up to ``wait`` seconds), else ``None``.
        A run past its hard limit is abandoned here: an error with ``retry`` set."""
        call = self._call
        if not call.wait(wait) and not self._runner.check(call):
            return None
        if call.abandoned:
            return MatchResult(False, "", self._owner._timeout(call.hard), retry=True)
        try:
            return call.value()
        except Exception as exc:  # not a script problem: an engine failure, shown as one
            return MatchResult(
                False, "", f"EventSource {self._owner.name!r}: {type(exc).__name__}: {exc}"
            )


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
        self.limits = limits or Limits()
        self._runner: Runner | None = None
        self._first: LuaSandbox | None = None  # compiles the scripts, then serves the runner
        self._scripts: list[tuple[int, str, str]] = []
        self._selectors: list[Selector] = []
        self._by_type: dict[tuple[str, str], list[Selector]] = {}

        for index, sel in enumerate(spec.resource_selectors):
            gvk = (sel.group, sel.version, sel.kind)
            if gvk not in self.gvks:
                self.gvks.append(gvk)
            compiled = Selector.compile(index, sel)
            if compiled.lua:
                self._compile_lua(index, sel.evaluate, f"resourceSelectors[{index}].evaluate")
            if compiled.cel is not None:
                self.warnings.extend(compiled.cel.problems)
            self._selectors.append(compiled)
            key = (compiled.filter.api_version, compiled.filter.kind)
            self._by_type.setdefault(key, []).append(compiled)

        self.has_aggregation = bool(spec.aggregated_selection.strip())
        if self.has_aggregation:
            self._compile_lua(AGGREGATE_ID, spec.aggregated_selection, "aggregatedSelection")

        #: messagingMatchCriteria (for CloudEvents)
        self.criteria = MessagingCriteria.compile(self.name, spec.messaging_match_criteria)
        if self._first is not None or any(s.isolated for s in self._selectors):
            self._runner = Runner(self._build, self._first, name=self.name)
            self._first = None

    # --- compilation ----------------------------------------------------------------------

    def _compile_lua(self, script_id: int, code: str, where: str) -> None:
        if self._first is None:
            self._first = LuaSandbox(self.limits)
        try:
            self._first.compile(script_id, code, where)
        except LuaScriptError as exc:
            raise InvalidEventSource(self.name, where, exc.message, exc.line) from exc
        self._scripts.append((script_id, code, where))

    def _build(self) -> LuaSandbox | None:
        """A fresh runtime with every script compiled (after an abandoned run)."""
        if not self._scripts:
            return None
        sandbox = LuaSandbox(self.limits)
        for script_id, code, where in self._scripts:
            sandbox.compile(script_id, code, where)
        return sandbox

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
        """Is ``obj`` an event for this EventSource? Never raises for script problems; waits
        for Lua up to the hard time limit."""
        result = self.start(obj, wait=None)
        assert isinstance(result, MatchResult)
        return result

    def start(self, obj: dict[str, Any], wait: float | None) -> MatchResult | Pending:
        """Evaluate ``obj``, waiting up to ``wait`` seconds for Lua (``None``: as long as it
        runs); a :class:`Pending` to poll when the run goes on longer. Selectors without Lua
        and objects no selector selects are decided here, on the caller's thread."""
        md = obj.get("metadata") or {}
        if type(md) is dict and md.get("deletionTimestamp"):
            return MatchResult(False, "object is being deleted")
        indices = self.selects(obj)
        if not indices:
            return MatchResult(False, "no resourceSelector selects this object")
        runner = self._runner
        if runner is None or not any(self._selectors[i].isolated for i in indices):
            return self._evaluate_selectors(indices, obj, None)
        reason = runner.unavailable()
        if reason:
            return MatchResult(False, "", f"EventSource {self.name!r}: {reason}", retry=True)
        call = runner.submit(
            lambda sandbox: self._evaluate_selectors(indices, obj, sandbox),
            self.limits.hard_seconds,
        )
        pending = Pending(self, runner, call)
        if wait is not None:
            return pending.poll(wait) or pending
        while True:  # the runner abandons the run at its hard limit
            result = pending.poll(wait=0.05)
            if result is not None:
                return result

    def isolates(self, obj: dict[str, Any]) -> bool:
        """Whether ``obj`` is evaluated in the worker thread (a selector with a script or
        CEL rules selects it)."""
        if self._runner is None:
            return False
        return any(self._selectors[i].isolated for i in self.selects(obj))

    def unavailable(self) -> str:
        """Why Lua runs are refused now ("" when they are not): suspended after runs that
        exceeded the time limit, or while an abandoned run still runs."""
        return self._runner.unavailable() if self._runner is not None else ""

    def timeouts(self) -> int:
        """Runs abandoned at the hard time limit."""
        return self._runner.timeouts if self._runner is not None else 0

    def _timeout(self, seconds: float) -> str:
        return (
            f"EventSource {self.name!r}: evaluation abandoned after {seconds:g} s (the time "
            "limit): the script spends its time where it cannot be interrupted (a costly "
            "string pattern or operation, a json/yaml helper)"
        )

    def _evaluate_selectors(
        self, indices: list[int], obj: dict[str, Any], sandbox: LuaSandbox | None
    ) -> MatchResult:
        errors: list[str] = []
        message = ""
        for index in indices:
            matched, msg, error = judge(self._selectors[index], obj, sandbox, self.name)
            if error is not None:
                errors.append(error)
            elif matched:
                return MatchResult(True, msg)
            elif msg and not message:
                message = msg
        if errors:
            return MatchResult(False, "", "; ".join(errors))
        return MatchResult(False, message)

    def each(self, obj: dict[str, Any]) -> tuple[list[SelectorOutcome], str | None]:
        """Every selecting resourceSelector's own verdict on ``obj``
        (:func:`~shared.evaluation.selectors.outcomes`, for explaining: the hot path,
        :meth:`evaluate`, stops at the first match), and the error that stopped
        the run (time limit, runs suspended) or ``None``. Lua and CEL run in the worker
        thread under the hard time limit, as in :meth:`evaluate`."""
        selected = [self._selectors[i] for i in self.selects(obj)]
        runner = self._runner
        if runner is None or not any(s.isolated for s in selected):
            return outcomes(selected, obj, None, self.name), None
        reason = runner.unavailable()
        if reason:
            return [], f"EventSource {self.name!r}: {reason}"
        try:
            verdicts = runner.run(
                lambda sandbox: outcomes(selected, obj, sandbox, self.name),
                self.limits.hard_seconds,
            )
        except Abandoned:
            return [], self._timeout(self.limits.hard_seconds)
        return verdicts, None

    def selector_filters(self) -> list[tuple[SelectorFilter, bool, bool]]:
        """Each resourceSelector's pre-filter, and whether it has Lua and CEL rules."""
        return [(s.filter, s.lua, s.cel is not None) for s in self._selectors]

    def _evaluate_in(self, obj: dict[str, Any], sandbox: LuaSandbox | None) -> MatchResult:
        """:meth:`evaluate` inside a run (the worker thread): no hand-over."""
        md = obj.get("metadata") or {}
        if type(md) is dict and md.get("deletionTimestamp"):
            return MatchResult(False, "object is being deleted")
        indices = self.selects(obj)
        if not indices:
            return MatchResult(False, "no resourceSelector selects this object")
        return self._evaluate_selectors(indices, obj, sandbox)

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

        With Lua, the whole aggregation (the objects' evaluations included) is one run in the
        worker thread, abandoned after :attr:`Limits.aggregate_hard_seconds`.
        """
        runner = self._runner
        if runner is None:
            return self._aggregate_in(objs, prefiltered, None)
        reason = runner.unavailable()
        if reason:
            return AggregateResult(error=f"EventSource {self.name!r}: {reason}")
        hard = self.limits.aggregate_hard_seconds
        try:
            return runner.run(lambda sandbox: self._aggregate_in(objs, prefiltered, sandbox), hard)
        except Abandoned:
            return AggregateResult(
                error=f"EventSource {self.name!r}: aggregation abandoned after {hard:g} s "
                "(the time limit): the scripts spend their time where they cannot be "
                "interrupted (a costly string pattern or operation, a json/yaml helper)"
            )

    def _aggregate_in(
        self, objs: list[dict[str, Any]], prefiltered: bool, sandbox: LuaSandbox | None
    ) -> AggregateResult:
        seen: set[tuple[str, str, str, str]] = set()
        selected: list[dict[str, Any]] = []
        for obj in objs:
            ident = identity(obj)
            if ident in seen:
                continue
            seen.add(ident)
            if not prefiltered:
                result = self._evaluate_in(obj, sandbox)
                if result.error is not None:
                    return AggregateResult(error=f"{'/'.join(ident)}: {result.error}")
                if not result.matching:
                    continue
            selected.append(obj)
        if not self.has_aggregation:
            return AggregateResult(selected)
        assert sandbox is not None
        outcome = sandbox.aggregate(AGGREGATE_ID, selected)
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
        """Does a CloudEvent received on NATS ``subject`` match messagingMatchCriteria
        (:meth:`MessagingCriteria.matches`)?"""
        return self.criteria.matches(subject, event)

    def memory_used(self) -> int:
        """Bytes held by this EventSource's Lua runtime (0 without Lua)."""
        return self._runner.memory_used() if self._runner is not None else 0


def compile_event_source(source: EventSource, limits: Limits | None = None) -> CompiledEventSource:
    """Compile ``source``. Raises :class:`InvalidEventSource` (name, field, Lua line)."""
    return CompiledEventSource(source, limits)
