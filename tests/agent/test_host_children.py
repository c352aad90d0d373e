"""The runtime of hosted units (shared.runtime.hosted): a crash in one child ends that child
only (its stop steps run), its siblings keep running and keep being visited by the host's
ticks; a stopped child leaves the ticks; the start gate is given back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.runtime.hosted import ChildService, Host, run_child
from shared.runtime.service import Service
from shared.runtime.settings import ServiceSettings


class Boom(RuntimeError):
    pass


async def wait_for(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_a_crash_in_one_child_never_touches_its_sibling() -> None:
    settings = ServiceSettings()
    host_service = Service("host", settings)
    async with asyncio.TaskGroup() as group:
        host_service._group = group
        host = Host(host_service, max_starting=1)
        ticks: dict[str, int] = {"a": 0, "b": 0}
        stopped: list[str] = []
        crash = asyncio.Event()

        def main_of(name: str) -> Any:
            async def main(child: ChildService) -> None:
                async def stop() -> None:
                    stopped.append(name)

                child.on_stop(stop)

                def tick() -> None:
                    ticks[name] += 1

                child.every(0.01, tick, "tick")
                child.startup_done()

                async def work() -> None:
                    await crash.wait()
                    if name == "a":
                        raise Boom("a's task crashed")
                    await asyncio.Event().wait()

                child.spawn(work(), "work")
                child.set_ready()
                await child.stopping.wait()

            return main

        a = ChildService("agent", settings, "a", host)
        b = ChildService("agent", settings, "b", host)
        run_a = asyncio.create_task(run_child(a, main_of("a")))
        run_b = asyncio.create_task(run_child(b, main_of("b")))
        await wait_for(lambda: a.ready and b.ready and ticks["a"] > 2 and ticks["b"] > 2)
        crash.set()
        with pytest.raises(ExceptionGroup) as err:
            await run_a
        assert isinstance(err.value.exceptions[0], Boom)
        assert stopped == ["a"] and not a.ready
        visited = ticks["a"]
        before = ticks["b"]
        await wait_for(lambda: ticks["b"] > before + 3)
        assert ticks["a"] == visited  # a's tick left the host with it
        assert b.ready and not run_b.done()
        assert len(host.ticks) == 1
        b.stop()
        await run_b
        assert stopped == ["a", "b"] and len(host.ticks) == 0
        assert not host.gate.locked()  # both places in the start gate given back
        for tick in host.ticks._ticks.values():  # the host's tick task
            assert tick.task is not None
            tick.task.cancel()
