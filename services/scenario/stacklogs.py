"""Diagnostics of a :class:`services.scenario.stack.Stack`: which child processes died, and
the log tails that matter for a failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.scenario.processes import ManagedProcess, tail


class StackLogs:
    """Mixin of :class:`~services.scenario.stack.Stack`."""

    processes: dict[str, ManagedProcess]
    fleet_process: ManagedProcess | None
    services: bool
    log_lines: int
    #: the process running a cluster's agent (:class:`~services.scenario.stackagents.
    #: StackAgents`; annotated only, so that it does not shadow the stack's method)
    agent_process_name: Callable[[str], str]

    @property
    def log_dir(self) -> Path:
        raise NotImplementedError

    def dead_processes(self) -> list[ManagedProcess]:
        procs = [*self.processes.values()]
        if self.fleet_process is not None:
            procs.append(self.fleet_process)
        return [p for p in procs if p.proc is not None and not p.running]

    def log_tails(self, cluster: str | None = None, lines: int | None = None) -> str:
        """The last ``lines`` lines of the logs that matter for a failure in ``cluster``: any
        process that exited, the manager, the cluster's agent (``agent-host`` when hosted;
        and the fleet's when the services are off)."""
        lines = lines or self.log_lines
        names: list[str] = [p.name for p in self.dead_processes()]
        for name in ("manager", self.agent_process_name(cluster) if cluster else ""):
            if name and name in self.processes and name not in names:
                names.append(name)
        if not self.services and "fleet" not in names:
            names.append("fleet")
        chunks = []
        for name in names:
            path = self.log_dir / f"{name}.log"
            proc = self.processes.get(name) or (self.fleet_process if name == "fleet" else None)
            state = ""
            if proc is not None and proc.proc is not None and not proc.running:
                state = f" (exited with code {proc.returncode})"
            chunks.append(
                f"--- {name}{state}: last {lines} lines of {path} ---\n{tail(path, lines)}"
            )
        return "\n".join(chunks)
