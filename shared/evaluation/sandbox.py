"""A sandboxed Lua 5.1 runtime (lupa) that runs EventSource scripts.

One :class:`LuaSandbox` owns one ``LuaRuntime`` (one per compiled EventSource). Scripts are
compiled once; each evaluation runs the compiled chunk in a fresh global table, so nothing a
script does survives into the next evaluation (see :mod:`shared.evaluation.prelude`).

What a script can use: ``assert error ipairs next pairs pcall xpcall rawequal rawget rawset
select setmetatable getmetatable tonumber tostring type unpack print(no-op) _VERSION``, the
``string`` (without ``dump``), ``table`` and ``math`` (without ``randomseed``) libraries,
``json`` (encode, decode, toYAML, fromYAML), ``strings`` (Go's strings API), ``require``
(only ``"json"`` and ``"strings"``), ``base64Encode``, ``base64Decode``, ``getLabel``,
``getAnnotation``. Absent: ``os io debug package load loadstring loadfile dofile setfenv
getfenv collectgarbage coroutine newproxy module string.dump python``.

Budgets: an instruction budget per run (a count hook installed before ``debug`` is removed;
``pcall`` cannot swallow it), a CPU-time budget per run (the evaluating thread's CPU time,
looked at by the hook and by the Python helpers) and a memory cap for the whole runtime
(``max_memory``). The C functions the hook cannot interrupt are guarded before they start
(:mod:`shared.evaluation.guards`: patterns whose worst-case backtracking on their subject is
too costly, plain searches, sorts, ``string.rep`` beyond the memory cap), and the json/yaml
helpers are bounded on their own (:mod:`shared.evaluation.codecs`). What still escapes
(linear C work between two hooks) is bounded by the hard wall-clock limit of
:mod:`shared.evaluation.isolation`, which runs every call of a sandbox in a worker thread.

Thread-safety: calls are serialised by a lock per sandbox (so a CompiledEventSource may be
shared between threads, at the price of running one evaluation at a time); for parallelism
use one CompiledEventSource per worker thread.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, NoReturn

import lupa.lua51 as lua51

from shared.evaluation.codecs import Codecs
from shared.evaluation.convert import from_lua, plain
from shared.evaluation.errors import LuaScriptError
from shared.evaluation.prelude import HOOK_EVERY, MEMORY_ERROR, PRELUDE


@dataclass(frozen=True, slots=True)
class Limits:
    """Budgets of one sandbox."""

    #: VM instructions per ``evaluate`` run (about 2-3 ms of Lua per million)
    instructions: int = 2_000_000
    #: VM instructions per ``aggregatedSelection`` run (it loops over every object)
    aggregate_instructions: int = 50_000_000
    #: CPU seconds of the evaluating thread per ``evaluate`` run (C functions and the
    #: json/yaml helpers do much work per instruction)
    seconds: float = 0.25
    #: CPU seconds per ``aggregatedSelection`` run
    aggregate_seconds: float = 5.0
    #: wall-clock seconds after which an ``evaluate`` run is abandoned (its runtime replaced):
    #: the bound of what no budget can interrupt (see :mod:`shared.evaluation.isolation`)
    hard_seconds: float = 2.0
    #: wall-clock seconds after which an aggregation (its objects' evaluations included) is
    #: abandoned
    aggregate_hard_seconds: float = 30.0
    #: memory cap of the runtime, bytes (objects under evaluation count against it)
    memory_bytes: int = 64 * 1024 * 1024
    #: worst-case steps (about 10 ns each) of one pattern call or plain search; above it the
    #: call is refused
    pattern_steps: float = 2e7
    #: values json.encode / json.toYAML may produce (a shared table counts each time)
    encode_values: int = 100_000
    #: bytes json.encode / json.toYAML may produce; bytes json.decode / fromYAML may read
    #: (at most a quarter of the memory cap)
    document_bytes: int = 4 * 1024 * 1024


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> NoReturn:
    raise AttributeError("Python attributes are not accessible from Lua")


_POSITION = re.compile(r"^(?P<chunk>[A-Za-z_.\[\]0-9]+):(?P<line>\d+): ")


def split_position(message: str) -> tuple[int | None, str]:
    """``("evaluate:7: boom")`` -> ``(7, "boom")``; no position -> ``(None, message)``."""
    m = _POSITION.match(message)
    if not m:
        return None, message
    return int(m.group("line")), message[m.end() :]


@dataclass(frozen=True, slots=True)
class LuaOutcome:
    """The result of one ``evaluate`` run (``error`` set: no result)."""

    matching: bool = False
    message: str = ""
    error: LuaScriptError | None = None


@dataclass(frozen=True, slots=True)
class LuaAggregate:
    """The result of one ``aggregatedSelection`` run.

    ``items``: for each returned resource, the 0-based index of the input object when the
    script returned that very table (possibly modified), and the returned data.
    """

    items: list[tuple[int | None, dict[str, Any]]]
    message: str = ""
    error: LuaScriptError | None = None


class LuaSandbox:
    """One sandboxed Lua runtime holding the compiled scripts of one EventSource."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._runtime = lua51.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            overflow_handler=float,
            max_memory=self.limits.memory_bytes,
        )
        self._cap = self.limits.memory_bytes
        # one run at a time: the budget counters and the memory-cap toggling around
        # table_from are per runtime (re-entrant: json.decode converts from inside a run)
        self._lock = threading.RLock()
        self._cpu_start = 0.0
        self._cpu_budget = float("inf")
        limits = self.limits
        codecs = Codecs(
            self.to_lua,
            max_input=max(1024, min(self._cap // 4, limits.document_bytes)),
            over_time=self._over_time,
            max_values=limits.encode_values,
            max_output=limits.document_bytes,
        )
        self._ctl = self._runtime.execute(
            PRELUDE,
            codecs.json_decode,
            codecs.json_encode,
            codecs.yaml_decode,
            codecs.yaml_encode,
            HOOK_EVERY,
            self._cap,
            self._over_time,
            limits.pattern_steps,
            limits.encode_values,
            limits.document_bytes,
            100,
        )
        self._evaluate = self._ctl.evaluate
        self._aggregate = self._ctl.aggregate
        self._table_from = self._runtime.table_from
        self._hooks = max(1, self.limits.instructions // HOOK_EVERY)
        self._agg_hooks = max(1, self.limits.aggregate_instructions // HOOK_EVERY)
        self._names: dict[int, str] = {}

    def _over_time(self) -> bool:
        """The current run spent its CPU budget (the calling thread's CPU time)."""
        return time.thread_time() - self._cpu_start > self._cpu_budget

    def _start_clock(self, seconds: float) -> None:
        self._cpu_start = time.thread_time()
        self._cpu_budget = seconds

    def to_lua(self, data: Any) -> Any:
        with self._lock:
            return self._to_lua(data)

    def _to_lua(self, data: Any) -> Any:
        """Plain data as a Lua value (tables built by ``table_from``).

        ``table_from`` calls the Lua C API outside a protected call, where an allocation
        failure would abort the process; so the memory cap is lifted while it runs (the data
        already exists in Python, its Lua copy is bounded by it) and checked afterwards.
        Raises :class:`MemoryError` when the result does not fit the cap.
        """
        data = plain(data)
        if not isinstance(data, dict | list):
            return data
        runtime = self._runtime
        runtime.set_max_memory(0)
        try:
            table = self._table_from(data, recursive=True)
        finally:
            runtime.set_max_memory(self._cap)
        if runtime.get_memory_used() > self._cap:
            del table
            self._recover()
            raise MemoryError(MEMORY_ERROR)
        return table

    def compile(self, script_id: int, code: str, chunkname: str) -> None:
        """Load ``code`` (without running it). Raises :class:`LuaScriptError` on a syntax error."""
        with self._lock:
            self._compile(script_id, code, chunkname)

    def _compile(self, script_id: int, code: str, chunkname: str) -> None:
        self._names[script_id] = chunkname
        self._runtime.set_max_memory(0)  # pushing the source is an unprotected allocation
        try:
            ok, err = self._ctl.compile(script_id, code, chunkname)
        finally:
            self._runtime.set_max_memory(self._cap)
        if not ok:
            raise self._error(script_id, str(err), compile_error=True)

    def _error(self, script_id: int, message: str, compile_error: bool = False) -> LuaScriptError:
        line, text = split_position(message)
        if message == MEMORY_ERROR:
            text = (
                f"memory budget exceeded ({self.limits.memory_bytes} bytes); the script was stopped"
            )
        return LuaScriptError(
            self._names.get(script_id, "?"), text, line=line, compile_error=compile_error
        )

    def _recover(self) -> None:
        """Free the garbage of a failed run (with the cap lifted: collecting may allocate)."""
        self._runtime.set_max_memory(0)
        try:
            self._ctl.collect()
        finally:
            self._runtime.set_max_memory(self._cap)

    def evaluate(self, script_id: int, obj: dict[str, Any]) -> LuaOutcome:
        """Run the script's ``evaluate`` on ``obj``. Never raises for script problems."""
        with self._lock:
            return self._run_evaluate(script_id, obj)

    def _run_evaluate(self, script_id: int, obj: dict[str, Any]) -> LuaOutcome:
        try:
            table = self._to_lua(obj)
            self._start_clock(self.limits.seconds)
            result = self._evaluate(script_id, table, self._hooks, self.limits.instructions)
        except (lua51.LuaError, MemoryError, RecursionError) as exc:
            self._recover()
            return LuaOutcome(error=self._error(script_id, _lua_message(exc)))
        except UnicodeDecodeError:
            return LuaOutcome(
                error=self._error(script_id, "the script returned text that is not UTF-8")
            )
        if result[0]:
            return LuaOutcome(bool(result[1]), str(result[2]))
        message = str(result[1])
        if message == MEMORY_ERROR:
            self._recover()
        return LuaOutcome(error=self._error(script_id, message))

    def aggregate(self, script_id: int, objs: list[dict[str, Any]]) -> LuaAggregate:
        """Run ``aggregatedSelection`` over ``objs`` (global ``resources``)."""
        with self._lock:
            return self._run_aggregate(script_id, objs)

    def _run_aggregate(self, script_id: int, objs: list[dict[str, Any]]) -> LuaAggregate:
        try:
            table = self._to_lua([plain(o) for o in objs])
            self._start_clock(self.limits.aggregate_seconds)
            result = self._aggregate(
                script_id, table, self._agg_hooks, self.limits.aggregate_instructions
            )
        except (lua51.LuaError, MemoryError, RecursionError) as exc:
            self._recover()
            return LuaAggregate([], error=self._error(script_id, _lua_message(exc)))
        except UnicodeDecodeError:
            return LuaAggregate(
                [], error=self._error(script_id, "the script returned text that is not UTF-8")
            )
        if not result[0]:
            message = str(result[1])
            if message == MEMORY_ERROR:
                self._recover()
            return LuaAggregate([], error=self._error(script_id, message))
        items: list[tuple[int | None, dict[str, Any]]] = []
        try:
            origins = result[3]
            for key, table in sorted(result[1].items()):
                data = from_lua(table)
                if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
                    raise ValueError(f"resources[{key}] is not an object with a kind")
                origin = int(origins[key])
                items.append((origin - 1 if origin > 0 else None, data))
        except (ValueError, lua51.LuaError, RecursionError) as exc:
            return LuaAggregate([], error=self._error(script_id, f"resources: {exc}"))
        return LuaAggregate(items, str(result[2]))

    def memory_used(self) -> int:
        """Bytes currently allocated by the runtime."""
        return int(self._runtime.get_memory_used())


def _lua_message(exc: BaseException) -> str:
    if isinstance(exc, lua51.LuaMemoryError | MemoryError):
        return MEMORY_ERROR
    if isinstance(exc, RecursionError):
        return "the object is nested too deeply to be converted"
    return str(exc)
