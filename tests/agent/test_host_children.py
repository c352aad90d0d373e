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


async def test_an_agent_that_cannot_start_says_why_and_is_restarted_with_backoff(
    nats_server: Any, jetstream: Any, tmp_path: Any
) -> None:
    """A hosted agent whose kubeconfig cannot be read fails (its status in ripple-agents
    says why, state degraded), is started again after its backoff (1 s, then 2 s...), and
    starts for good once the file is there; the host never sees an exception."""
    from services.agent import hostfile
    from services.agent.hosting import HostedAgent, config_of
    from services.agent.hostplan import Backoffs, RestartPolicy
    from services.agent.hostsettings import HostSettings
    from shared.bus.kv import KVStore
    from shared.contract import messages as m
    from shared.contract import streams, subjects
    from shared.contract.subjects import ClusterRef

    kubeconfig = tmp_path / "c1.kubeconfig"
    settings = HostSettings(clusters=tmp_path / "clusters.yaml", nats_url=nats_server.url)
    entry, _ = hostfile.parse_entry({"cluster": "ns/c1", "kubeconfig": str(kubeconfig)}, "f")
    assert entry is not None
    host_service = Service("agent_host", settings)
    async with asyncio.TaskGroup() as group:
        host_service._group = group
        host = Host(host_service)
        policy = RestartPolicy(base=0.2, cap=0.4)
        agent = HostedAgent(entry.key, config_of(entry), host, settings, Backoffs(policy))
        agent.start()
        await wait_for(lambda: agent.state()[0] == "failed", 15)
        _, why = agent.state()
        assert "KubeConfigInvalid" in why and str(kubeconfig) in why, why
        agents = await KVStore.open(jetstream, streams.AGENTS, m.AgentStatusEvent)
        key = subjects.agent_key(ClusterRef(namespace="ns", name="c1"))
        status = (await agents.items(key))[key].data
        assert status.state == "degraded" and str(kubeconfig) in status.errors[0]
        await wait_for(lambda: agent.restarts >= 2, 15)  # tried again, and again
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "
            "'http://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
            "current-context: c\nusers: [{name: u, user: {token: t}}]\n"
        )
        await wait_for(lambda: agent.ready, 15)  # nothing assigned: ready once it reads
        assert agent.state()[0] == "ready"
        await agent.stop()
        for tick in host.ticks._ticks.values():
            assert tick.task is not None
            tick.task.cancel()


async def test_an_agent_whose_work_stalls_is_seen_by_the_host(tmp_path: Any) -> None:
    """A hosted agent's queue holding work without finishing any for liveness_stalled
    seconds is reported by its supervisor (the host then restarts that agent only); the
    host's own liveness does not watch its agents' queues."""
    from services.agent import hostfile
    from services.agent.hosting import HostedAgent, config_of
    from services.agent.hostplan import Backoffs
    from services.agent.hostsettings import HostSettings
    from shared.runtime.workqueue import WorkQueue

    settings = HostSettings(clusters=tmp_path / "c.yaml", liveness_stalled=1)
    entry, _ = hostfile.parse_entry({"cluster": "ns/c1", "kubeconfig": "/k"}, "f")
    assert entry is not None
    host = Host(Service("agent_host", settings))
    agent = HostedAgent(entry.key, config_of(entry), host, settings, Backoffs())
    child = ChildService("agent", settings, entry.key, host)
    agent.child = child
    queue: WorkQueue[str] = WorkQueue("profiles")
    child.watch_queue(queue)
    assert agent.check_liveness() == ""
    queue.add("p")  # work in hand, nobody finishes it
    assert agent.check_liveness() == ""
    await asyncio.sleep(1.2)
    assert "work queue profiles stalled" in agent.check_liveness()
    assert host.service.liveness.verdict().live  # the host itself stays live
