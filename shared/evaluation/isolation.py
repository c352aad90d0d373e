"""Lua (and CEL) runs in a worker thread with a hard wall-clock limit: a runaway is abandoned.

The count hook cannot interrupt a C function (a string pattern that backtracks, a helper
running in Python), and the guards of :mod:`shared.evaluation.guards` bound only what they
know. So every run of an EventSource's scripts and CEL rules happens in the worker thread of
its :class:`Runner`, never on the caller's thread. lupa releases the GIL while Lua
runs (Lua code and the C functions it calls alike; measured: the caller's thread keeps
running Python, gaps under 5 ms, while another thread spends seconds in ``string.find``), so
a run that does not finish delays nobody but its own EventSource:

* a caller waits as long as it likes (the agent's loop: until the run is over, or a few
  milliseconds when it polls the runs on a timer);
* a run still going ``hard`` seconds after it started is **abandoned**: its thread and runtime
  are given up and the thread is interrupted (:class:`Stopped` raised at its next Python
  instruction: CEL rules and the json/yaml helpers stop at once, a C function when it
  returns, a script at its next hook), and the next run gets a fresh thread and a freshly
  compiled runtime -- nothing a script left behind survives;
* after an abandoned run the runner refuses runs for a backoff (1 s, doubling up to 60 s,
  reset by a run that finishes in time), and while an abandoned run of the same EventSource
  (by name: also of a definition replaced since) is still burning CPU (``max_runaways``) it
  refuses every run: the number of runaway threads is bounded by the number of EventSources
  that have one, each at most one. :func:`sweep` abandons the runs nobody polls.

Cost: handing a run to the worker and back is two thread switches, 50-90 µs of CPU per
evaluation on a loaded 2-vCPU VM (a Lua evaluation of a Service costs 70-100 µs there). An
idle worker ends after :data:`IDLE_SECONDS`. :func:`stats` counts abandoned runs and the
runaway threads still alive, process-wide, for the metrics.
"""

from __future__ import annotations

import ctypes
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.evaluation.sandbox import LuaSandbox

T = TypeVar("T")

#: seconds an idle worker thread waits for work before it ends (a new one starts on demand)
IDLE_SECONDS = 10.0

_STATS_LOCK = threading.Lock()
_timeouts_total = 0
_runaways: dict[Call[Any], str] = {}  # abandoned runs still running -> their runner's key
_active: weakref.WeakSet[Runner] = weakref.WeakSet()  # runners that started a run


@dataclass(frozen=True)
class IsolationStats:
    """Process-wide: runs abandoned at their time limit, and those still running."""

    timeouts_total: int
    runaways: int


def stats() -> IsolationStats:
    with _STATS_LOCK:
        return IsolationStats(_timeouts_total, len(_runaways))


def sweep(now: float | None = None) -> None:
    """Abandon every run past its hard limit, whoever started it (also the runs of an
    EventSource replaced meanwhile, which nobody polls any more)."""
    now = time.monotonic() if now is None else now
    for runner in list(_active):
        current = runner._current
        if current is not None:
            runner.check(current, now)


class Abandoned(TimeoutError):
    """A run exceeded its hard time limit and was given up."""


class Stopped(BaseException):
    """Raised in an abandoned run's thread at its next Python instruction (CEL rules, the
    json/yaml helpers, the hook's calls): Python code stops at once; C code when it returns.
    A BaseException, so that no ``except Exception`` of the task swallows it."""


def _interrupt(thread: threading.Thread) -> None:
    ident = thread.ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(Stopped))


Task = Callable[[LuaSandbox | None], T]


class Call(Generic[T]):
    """One run handed to a runner's worker thread."""

    __slots__ = ("_done", "abandoned", "deadline", "error", "finished", "hard", "result", "task")

    def __init__(self, task: Task[T], hard: float) -> None:
        self.task = task
        self.hard = hard
        self.deadline = float("inf")  # set when the worker starts it
        self.finished = False
        self.abandoned = False
        self.result: T | None = None
        self.error: BaseException | None = None
        self._done = threading.Lock()
        self._done.acquire()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the run to finish; True when it did."""
        if self.finished:
            return True
        if self._done.acquire(timeout=max(0.0, timeout)):
            self._done.release()
        return self.finished

    def value(self) -> T:
        """The result of a finished run (re-raises what the task raised)."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class Runner:
    """Runs the calls of one sandbox, one at a time, in a worker thread of its own (an
    EventSource without Lua has no sandbox: its CEL rules run there all the same)."""

    def __init__(
        self,
        build: Callable[[], LuaSandbox | None],
        sandbox: LuaSandbox | None = None,
        *,
        name: str = "",
        backoff: tuple[float, float] = (1.0, 60.0),
        max_runaways: int = 1,
    ) -> None:
        self._build = build
        self._sandbox = sandbox
        self._fresh = sandbox is None  # the next run builds a runtime first
        self.name = name
        self._backoff = backoff
        self._max_runaways = max_runaways
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Call[Any]] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._calls: dict[int, Call[Any]] = {}  # worker thread ident -> the call it runs
        self._current: Call[Any] | None = None
        self._key = name or f"runner-{id(self)}"  # runaways count per EventSource name
        self._memory = sandbox.memory_used() if sandbox is not None else 0
        #: runs abandoned since the last run that finished in time
        self.consecutive_timeouts = 0
        #: runs abandoned by this runner
        self.timeouts = 0
        self.suspended_until = 0.0

    # -- the callers' side -----------------------------------------------------------------
    def unavailable(self, now: float | None = None) -> str:
        """Why no run may start now ("" when one may)."""
        now = time.monotonic() if now is None else now
        with _STATS_LOCK:
            runaways = sum(1 for key in _runaways.values() if key == self._key)
        with self._lock:
            if runaways >= self._max_runaways:
                return (
                    "evaluations suspended: a run abandoned at the time limit is still running "
                    "(it cannot be interrupted); they resume when it ends"
                )
            if now < self.suspended_until:
                return (
                    f"evaluations suspended after {self.consecutive_timeouts} run(s) exceeded "
                    "the time limit; retrying with backoff"
                )
        return ""

    def submit(self, task: Task[T], hard: float) -> Call[T]:
        """Queue ``task`` (run with the current sandbox in the worker thread)."""
        call = Call(task, hard)
        with self._lock:
            self._jobs.put(call)
            if self._worker is None:
                self._start_worker()
        return call

    def check(self, call: Call[Any], now: float | None = None) -> bool:
        """True once ``call`` is over: finished, or abandoned here because it has been
        running for longer than its hard limit."""
        if call.finished or call.abandoned:
            return True
        now = time.monotonic() if now is None else now
        if now < call.deadline:
            return False
        with self._lock:
            if call.finished or call.abandoned:
                return True
            self._abandon(call, now)
        return True

    def run(self, task: Task[T], hard: float) -> T:
        """Run ``task`` and wait for it; raises :class:`Abandoned` past the hard limit."""
        call = self.submit(task, hard)
        while not call.wait(min(0.05, hard)):
            if self.check(call):
                break
        if call.abandoned:
            raise Abandoned(f"abandoned after {hard:g} s")
        return call.value()

    def memory_used(self) -> int:
        """Bytes of the current runtime after its last run (never touches a running one)."""
        return self._memory

    # -- the worker's side -----------------------------------------------------------------
    def _start_worker(self) -> None:
        thread = threading.Thread(target=self._work, name=f"lua-{self.name}", daemon=True)
        self._worker = thread
        thread.start()

    def _abandon(self, call: Call[Any], now: float) -> None:
        global _timeouts_total
        call.abandoned = True
        with _STATS_LOCK:  # counted before the interrupt: the thread's exit uncounts it
            _runaways[call] = self._key
        if self._worker is not None:
            _interrupt(self._worker)  # stops Python code now, C code when it returns
        self._worker = None  # the stuck thread is no longer this runner's worker
        self._sandbox = None
        self._fresh = True  # the next run gets a fresh runtime
        self._current = None
        self.timeouts += 1
        self.consecutive_timeouts += 1
        first, cap = self._backoff
        self.suspended_until = now + min(cap, first * 2 ** (self.consecutive_timeouts - 1))
        with _STATS_LOCK:
            _timeouts_total += 1
        call._done.release()  # waiters see it over
        if not self._jobs.empty():
            self._start_worker()

    def _work(self) -> None:
        try:
            self._serve(threading.current_thread())
        except Stopped:  # abandoned: interrupted, its call already over for its callers
            pass
        finally:
            # an interrupt delivered outside the task (e.g. as the task returned) leaves
            # _serve without its bookkeeping: this thread's abandoned call ends here
            call = self._calls.pop(threading.get_ident(), None)
            if call is not None and call.abandoned:
                with _STATS_LOCK:
                    _runaways.pop(call, None)

    def _serve(self, me: threading.Thread) -> None:
        while True:
            try:
                call = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty() or self._worker is not me:
                        if self._worker is me:
                            self._worker = None
                        return
                continue
            with self._lock:
                call.deadline = time.monotonic() + call.hard
                self._current = call
                self._calls[threading.get_ident()] = call
            _active.add(self)
            memory = self._memory
            try:
                if self._fresh:
                    self._sandbox = self._build()
                    self._fresh = False
                sandbox = self._sandbox
                call.result = call.task(sandbox)
                memory = sandbox.memory_used() if sandbox is not None else 0
            except BaseException as exc:  # handed to the caller (Stopped: abandoned anyway)
                call.error = exc
            with self._lock:
                if call.abandoned:  # this thread was given up: leave the rest to the new one
                    with _STATS_LOCK:
                        _runaways.pop(call, None)
                    return
                call.finished = True
                self._current = None
                self._memory = memory
                self.consecutive_timeouts = 0
                call._done.release()
                if self._worker is not me:
                    return
