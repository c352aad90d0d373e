"""The active replica's renewals in a thread of their own, with their own event loop and
NATS connection.

A service's event loop may be blocked for seconds (the manager's start-up over a large state,
a long reconcile): renewals made on it would stop, the lease would be taken over while the
replica is alive, and the replica fenced. A blocked loop does nothing, so it endangers
nobody; renewing from a thread keeps the lease exactly as long as the *process* runs. A
paused process (SIGSTOP, a frozen VM) pauses this thread too: the lease goes silent, a
standby takes over, and the watchdog ends the process when it resumes.

    keeper = LeaseThread(standby, connect)     # connect(): a new NATS connection
    keeper.start()                             # after standby.acquire()
    await keeper.stop()                        # a clean stop: release the lease
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from shared.bus.binding import handle
from shared.bus.lease import LeaseKV
from shared.contract import streams
from shared.runtime.leaseholder import Standby

log = logging.getLogger(__name__)

STOP_WAIT = 3.0
"""Seconds a stop waits for the thread to release the lease and close its connection."""


class LeaseThread:
    """Runs :meth:`Standby.keep` on its own loop and connection (see the module doc)."""

    def __init__(self, standby: Standby, connect: Callable[[], Awaitable[Any]]) -> None:
        self.standby = standby
        self.connect = connect
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._finished: asyncio.Future[None] | None = None  # on the starting loop
        self._thread = threading.Thread(
            target=self._main, name=f"lease-{standby.role}", daemon=True
        )

    def start(self) -> LeaseThread:
        """Start the thread (called on the service's loop, which :meth:`failed` and
        :meth:`stop` are awaited on)."""
        owner = asyncio.get_running_loop()
        self._finished = owner.create_future()
        self._owner = owner
        self._thread.start()
        self._started.wait(5)
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as err:  # reported to the service (failed())
            self.error = err
            log.error("lease thread failed: %r", err, extra={"obj": self.standby.where})
        finally:
            self.done.set()
            with contextlib.suppress(RuntimeError):  # the service's loop already closed
                self._owner.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        standby = self.standby
        standby.rebind_loop()
        nc = await self._connect()
        if nc is None:
            return  # stopped, or fenced by the watchdog meanwhile
        try:
            standby.kv = LeaseKV(
                handle(nc.jetstream(), streams.LEASES), nc, standby.role, standby.kv.timeout
            )
            keep = asyncio.create_task(standby.keep(), name="lease-keep")
            stop = asyncio.create_task(self._stop.wait(), name="lease-stop")
            await asyncio.wait({keep, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not keep.done():
                keep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keep
                await standby.release()
            else:
                stop.cancel()
                keep.result()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 1.0)

    async def _connect(self) -> Any:
        """A connection, retried until the stop or the fence (the watchdog's deadline)."""
        assert self._stop is not None
        delay = 0.05
        while not self._stop.is_set() and self.standby.fenced is None:
            try:
                async with asyncio.timeout(2.0):
                    return await self.connect()
            except Exception as err:
                log.warning("lease connection failed: %s", err, extra={"obj": self.standby.where})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        return None

    async def stop(self) -> None:
        """Release the lease (from the thread) and wait for the thread, bounded."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not self.done.is_set():
            with contextlib.suppress(RuntimeError):  # its loop already ended
                loop.call_soon_threadsafe(stop.set)
        if self._finished is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._finished), STOP_WAIT)

    async def failed(self) -> None:
        """Return when the thread ended on its own; raise its error (the service ends)."""
        assert self._finished is not None, "failed() before start()"
        await asyncio.shield(self._finished)
        if self.error is not None:
            raise self.error


__all__ = ["STOP_WAIT", "LeaseThread"]
