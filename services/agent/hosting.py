"""One hosted agent's supervisor (``ripple agent-host``): runs the agent of one cluster as a
:class:`shared.runtime.hosted.ChildService`, in a task group of its own, and starts it again
with backoff when it fails (:class:`services.agent.hostplan.RestartPolicy`).

What fails in one cluster stays there: a kubeconfig that cannot be read, an API server that
does not answer, a NATS user refused, a task of its agent that crashes -- that agent stops
(its ``on_stop`` steps run), its state says why (``failed``, the error, when it restarts),
and it is started again after its backoff; the other agents do not notice. A supervisor
never raises into the host (only a stop cancels it).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from services.agent.hostfile import ClusterEntry
from services.agent.hostplan import Backoffs
from services.agent.hostsettings import HostSettings
from services.agent.service import main as agent_main
from shared.runtime.hosted import ChildService, Host, run_child

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """What an agent runs with; a change restarts it: its entry (compared by its digest),
    and the identity of its kubeconfig's and password file's content (a fixed kubeconfig
    restarts its agent). Cheap to compare: the host compares all of them at every look."""

    entry: ClusterEntry = field(compare=False)
    digest: str = ""
    kubeconfig: str = ""
    password: str = ""


def file_identity(path: str | None) -> str:
    """A cheap identity of a file's content (size and modification time; "" if absent)."""
    if not path:
        return ""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"error:{exc.errno}"
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


_DIGESTS: dict[int, tuple[ClusterEntry, str]] = {}


def entry_digest(entry: ClusterEntry) -> str:
    """A digest of everything ``entry`` says (its password included), computed once per
    entry object."""
    cached = _DIGESTS.get(id(entry))
    if cached is not None and cached[0] is entry:
        return cached[1]
    if len(_DIGESTS) > 100_000:
        _DIGESTS.clear()
    digest = hashlib.sha256(entry.model_dump_json(by_alias=True).encode()).hexdigest()[:24]
    _DIGESTS[id(entry)] = (entry, digest)
    return digest


def config_of(entry: ClusterEntry, kubeconfig_digest: str | None = None) -> Config:
    """The :class:`Config` of ``entry`` now (``kubeconfig_digest``: given by a source that
    holds the kubeconfig's content itself)."""
    password = file_identity(entry.nats_password_file)
    kubeconfig = kubeconfig_digest or file_identity(entry.kubeconfig)
    return Config(entry, entry_digest(entry), kubeconfig, password)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def describe(exc: BaseException) -> str:
    """One line per cause of a child's failure."""
    return "; ".join(f"{type(e).__name__}: {e}" for e in _leaves(exc))


class HostedAgent:
    """The supervisor of one cluster's agent (its states: ``starting``, ``ready``,
    ``degraded`` (ready, with problems: a watch failing, applies failing...), ``not ready``,
    ``failed`` (waiting for its restart))."""

    def __init__(
        self, key: str, config: Config, host: Host, settings: HostSettings, backoffs: Backoffs
    ) -> None:
        self.key = key
        self.config = config
        self.host = host
        self.settings = settings
        self.backoffs = backoffs
        self.child: ChildService | None = None
        self.task: asyncio.Task[Any] | None = None
        self.failed = ""  # the last failure while waiting to restart ("" otherwise)
        self.retry_at = 0.0
        self.starts = 0
        self.restarts = 0  # starts after a failure (not the first, not a configuration change)

    # -- state -------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.child is not None and self.child.ready

    def state(self) -> tuple[str, str]:
        """``(state, why)`` for the host's status and logs."""
        if self.failed:
            wait = max(0.0, self.retry_at - time.monotonic())
            return "failed", f"{self.failed} (restart in {wait:.0f} s)"
        child = self.child
        if child is None:
            return "starting", "not started yet"
        if child.ready:
            problems = child.problems()
            return ("degraded", "; ".join(problems)) if problems else ("ready", "")
        return ("starting" if self.starts == 1 else "not ready"), child.not_ready_reason

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.task = self.host.service.spawn(self._supervise(), f"hosted {self.key}")

    async def stop(self) -> None:
        """Stop the agent (its ``on_stop`` steps run); nothing is withdrawn by that."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.child = None

    async def restart(self, config: Config | None = None) -> None:
        await self.stop()
        if config is not None:
            self.config = config
        self.failed = ""
        self.start()

    def _password(self) -> str | None:
        entry = self.config.entry
        if entry.nats_password_file:
            try:
                with open(entry.nats_password_file, encoding="utf-8") as f:
                    return f.read().strip()
            except OSError as exc:
                raise OSError(
                    f"{self.key}: natsPasswordFile {entry.nats_password_file}: {exc.strerror}"
                ) from None
        return entry.nats_password

    async def _supervise(self) -> None:
        while True:
            started = time.monotonic()
            self.starts += 1
            try:
                settings = self.settings.agent_settings(self.config.entry, self._password())
                child = ChildService("agent", settings, self.key, self.host)
                self.child = child
                await run_child(child, functools.partial(agent_main, settings))
                return  # its main returned: stopped
            except Exception as exc:
                error = describe(exc)
            ran_for = time.monotonic() - started
            delay = self.backoffs.failed(self.key, ran_for, random.random())
            self.failed = error
            self.retry_at = time.monotonic() + delay
            log.error("agent failed, restarting in %.1f s: %s", delay, error,
                      extra={"obj": self.key})  # fmt: skip
            if self.child is not None:
                self.host.on_readiness(self.child)
            await asyncio.sleep(delay)
            self.failed = ""
            self.restarts += 1

    def check_liveness(self) -> str:
        """The reason the agent's work stalled ("" while it progresses); the host restarts
        a stalled agent (its siblings are not affected)."""
        child = self.child
        if child is None or self.failed:
            return ""
        child.liveness.tick()
        for name, since in child.liveness._beat.busy:
            idle = time.monotonic() - since
            if idle > child.liveness.limits.stalled:
                return f"{name} stalled: work in hand, none finished for {idle:.0f} s"
        return ""


__all__ = ["Config", "HostedAgent", "config_of", "describe", "file_identity"]
