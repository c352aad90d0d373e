"""How a :class:`services.scenario.stack.Stack` runs its clusters' agents: one ``ripple agent``
process per cluster, or one ``ripple agent-host`` process hosting every cluster's agent
(Sveltos' centralized agent mode; one agent process is ~70 MiB, a hosted one a few).

``agent_mode``:

- ``"process"``: one process per cluster (``agent-<ns>-<name>``: log, ready file, metrics
  port), which a test can stop, kill or restart alone;
- ``"hosted"``: one ``agent-host`` process (log ``logs/agent-host.log``, ready file
  ``ready/agent-host``), given the clusters file :attr:`StackAgents.clusters_file` (mode
  0600: it carries each cluster's own NATS user and password);
- ``"auto"`` (default): hosted when the fleet has more than :data:`HOSTED_ABOVE` clusters.

In hosted mode a cluster's agent has no process of its own: :meth:`StackAgents.agent_name`
raises :class:`StackError` saying so (a test that stops one cluster's agent needs
``agent_mode="process"``); :meth:`StackAgents.agent_process_name` names the process that
runs a cluster's agent in either mode (logs, metrics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import yaml

from services.scenario.commands import AGENT_HOST, agent_name, hosted_clusters
from services.scenario.credentials import NatsCredentials, cluster_ref, write_private
from services.scenario.errors import StackError
from services.scenario.model import Fleet

AgentMode = Literal["auto", "process", "hosted"]
AGENT_MODES: tuple[str, ...] = get_args(AgentMode)

HOSTED_ABOVE = 8
"""``agent_mode="auto"`` hosts the agents when the fleet has more clusters than this: the
tests that stop or kill one cluster's agent process run up to 6 clusters (the reliability
package's lanes), and keep one process per agent."""


def resolve_agent_mode(mode: str, clusters: int) -> Literal["process", "hosted"]:
    """``"process"`` or ``"hosted"`` for ``mode`` and a fleet of ``clusters`` clusters."""
    if mode not in AGENT_MODES:
        raise StackError(f"agent mode {mode!r}: expected one of {', '.join(AGENT_MODES)}")
    if mode == "auto":
        return "hosted" if clusters > HOSTED_ABOVE else "process"
    return "hosted" if mode == "hosted" else "process"


class StackAgents:
    """Mixin of :class:`~services.scenario.stack.Stack` (see the module doc)."""

    fleet: Fleet
    state_dir: Path
    credentials: NatsCredentials | None
    #: ``"process"`` or ``"hosted"`` (``agent_mode="auto"`` resolved for the fleet)
    agent_mode: Literal["process", "hosted"]

    def kubeconfig(self, cluster: str) -> Path:
        raise NotImplementedError  # the stack's

    @property
    def hosted(self) -> bool:
        """Whether one ``agent-host`` process runs every cluster's agent."""
        return self.agent_mode == "hosted"

    @property
    def clusters_file(self) -> Path:
        """The clusters file of ``agent-host`` (hosted mode; mode 0600)."""
        return self.state_dir / AGENT_HOST / "clusters.yaml"

    def write_clusters_file(self) -> Path:
        """Write :attr:`clusters_file` for the fleet: each cluster's kubeconfig and its own
        NATS user and password (when the stack is secure). ``agent-host`` re-reads it when
        it changes."""
        users: dict[str, tuple[str, str]] = {}
        if self.credentials is not None:
            for cluster in self.fleet.clusters:
                cred = self.credentials.agent(cluster_ref(cluster))
                users[cluster.ref] = (cred.user, cred.password)
        kubeconfigs = {c.ref: self.kubeconfig(c.ref).resolve() for c in self.fleet.clusters}
        doc = hosted_clusters(self.fleet, kubeconfigs, users)
        write_private(self.clusters_file, yaml.safe_dump(doc, sort_keys=False))
        return self.clusters_file

    def agent_name(self, cluster: str) -> str:
        """The process name (log, ready file, metrics port) of ``cluster``'s own agent
        process; :class:`StackError` when the stack hosts its agents."""
        if self.hosted:
            raise StackError(
                f"the stack runs hosted agents (one {AGENT_HOST} process for "
                f"{len(self.fleet.clusters)} clusters): the agent of {cluster} has no process "
                "of its own to stop, kill or restart; use Stack(..., agent_mode='process')"
            )
        return agent_name(cluster)

    def agent_process_name(self, cluster: str) -> str:
        """The name of the process that runs ``cluster``'s agent (``agent-host`` when
        hosted): its log is ``logs/<name>.log``, its metrics port ``metrics_ports[name]``."""
        return AGENT_HOST if self.hosted else agent_name(cluster)

    def agent_process_names(self) -> list[str]:
        """Every process running agents."""
        if self.hosted:
            return [AGENT_HOST]
        return [agent_name(c.ref) for c in self.fleet.clusters]
