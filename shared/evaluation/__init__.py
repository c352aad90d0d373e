"""The evaluation engine: "is this object an event?" (pure code, no I/O).

Public API::

    from shared.evaluation import compile_event_source
    compiled = compile_event_source(event_source)      # raises errors.InvalidEventSource
    compiled.gvks                                       # [(group, version, kind), ...] to watch
    compiled.selects(obj)                               # cheap pre-filter -> [selector index]
    compiled.evaluate(obj)                              # MatchResult(matching, message, error, retry)
    compiled.start(obj, wait)                           # MatchResult, or Pending to .poll()
    compiled.unavailable()                              # why Lua runs are refused now ("")
    compiled.has_aggregation
    compiled.aggregate(objs)                            # AggregateResult(resources, message, error)
    compiled.match_cloud_event(subject, event)          # messagingMatchCriteria

A result with ``error`` set means "unknown": the caller keeps the previous state (``retry``
set too: the run exceeded its hard time limit or runs are suspended; evaluate again later).
Lua runs in a worker thread per CompiledEventSource, with a hard wall-clock limit
(:mod:`shared.evaluation.isolation`); its runs are serialised (safe to share between threads,
one evaluation at a time); compile one per thread for parallelism.
"""

from __future__ import annotations

from shared.evaluation.engine import (
    AggregateResult,
    CompiledEventSource,
    MatchResult,
    Pending,
    compile_event_source,
)
from shared.evaluation.errors import InvalidEventSource, LuaScriptError
from shared.evaluation.sandbox import Limits

__all__ = [
    "AggregateResult",
    "CompiledEventSource",
    "InvalidEventSource",
    "Limits",
    "LuaScriptError",
    "MatchResult",
    "Pending",
    "compile_event_source",
]
