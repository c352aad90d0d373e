"""The agent host's settings (``ripple agent-host --help``), and the settings of each agent it
hosts (the host's, with the cluster's identity, kubeconfig and NATS credentials)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator

from services.agent.hostfile import ClusterEntry
from services.agent.settings import AgentSettings
from shared.runtime.liveness import LivenessSettings
from shared.runtime.settings import KUBECONFIG, ServiceSettings

# what a hosted agent takes from the host's settings as they are
_INHERITED = (
    "nats_url",
    "nats_user",
    "nats_password",
    "nats_creds",
    "storage",
    "log_level",
    "shutdown_grace",
    "connect_timeout",
    "otlp_endpoint",
    "trace_sample_ratio",
    "liveness_loop_blocked",
    "liveness_stalled",
    "report_interval",
    "workers",
    "helm_cache_dir",
    "helm_qps",
    "helm_burst",
)


class HostSettings(ServiceSettings, LivenessSettings):
    clusters: Path | None = Field(
        None, description="File listing the hosted clusters (YAML or JSON; re-read on change)."
    )
    from_management: bool = Field(
        False,
        description=(
            "Host the agents of the clusters registered in the management cluster "
            "(SveltosClusters and CAPI Clusters; kubeconfigs from their Secrets)."
        ),
    )
    kubeconfig: str | None = Field(
        None,
        validation_alias=KUBECONFIG,
        description="Management cluster kubeconfig (--from-management; default: in-cluster).",
    )
    nats_secret_suffix: str = Field(
        "-ripple-nats",
        description=(
            "--from-management: the Secret <cluster name><suffix>, in the cluster's namespace, "
            "holds its agent's NATS credentials (keys user and password)."
        ),
    )
    shutdown_grace: float = Field(
        10.0,
        gt=0,
        le=60,
        description=(
            "Seconds given to a clean shutdown after SIGTERM (every hosted agent says "
            "'stopping' and closes its connections: ~4 s for 1,000 on two cores)."
        ),
    )
    workers: int = Field(2, ge=1, le=64, description="Apply/removal workers per hosted agent.")
    max_starting: int = Field(
        32, ge=1, le=4096, description="Agents connecting and loading at the same time."
    )
    threads: int = Field(
        32,
        ge=4,
        le=512,
        description=(
            "Threads of the host's executor, shared by every hosted agent's applies, removals "
            "and off-loop work (an agent holds at most its --workers of them for applies)."
        ),
    )
    poll_interval: float = Field(
        2.0, gt=0, le=600, description="Seconds between two looks at the list of clusters."
    )
    restart_max: float = Field(
        60.0, ge=1, le=3600, description="Longest wait before a failed agent is restarted."
    )
    metrics_refresh: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="Seconds between two sums of the hosted agents' series on /metrics.",
    )
    report_interval: float = Field(
        1.0, ge=0, le=3600, description="As ripple agent --report-interval, for every agent."
    )
    helm_cache_dir: str | None = Field(None, description="As ripple agent --helm-cache-dir.")
    helm_qps: float = Field(200.0, gt=0, le=10000, description="As ripple agent --helm-qps.")
    helm_burst: int = Field(400, ge=1, le=20000, description="As ripple agent --helm-burst.")

    @model_validator(mode="after")
    def _source(self) -> HostSettings:
        if (self.clusters is None) == (not self.from_management):
            raise ValueError("give --clusters FILE or --from-management (one of them)")
        return self

    def agent_settings(self, entry: ClusterEntry, password: str | None = None) -> AgentSettings:
        """The settings of ``entry``'s agent: the host's, with the cluster's identity,
        kubeconfig and, when the entry names one, NATS user and ``password`` (validated once,
        here, by the host; built without reading the environment again)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in _INHERITED}
        values.update(
            cluster=entry.cluster,
            cluster_type=entry.type,
            kubeconfig=entry.kubeconfig,
            cloudevent_subjects=[],
            ready_file=None,
            metrics_port=None,
        )
        if entry.nats_user:
            values.update(
                nats_user=entry.nats_user,
                nats_password=SecretStr(password or ""),
                nats_creds=None,
            )
        return AgentSettings.model_construct(**values)


__all__ = ["HostSettings"]
