"""The agent's settings (``ripple agent --help``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.contract.subjects import ClusterRef
from shared.runtime.liveness import LivenessSettings
from shared.runtime.settings import KUBECONFIG, ServiceSettings


def check_cluster(value: str) -> str:
    """``value`` if it is a cluster's ``NAMESPACE/NAME`` (``--cluster``, a hosted entry)."""
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"{value!r} is not NAMESPACE/NAME")
    return value


class AgentSettings(ServiceSettings, LivenessSettings):
    cluster: str = Field(description="This cluster as NAMESPACE/NAME.")
    cluster_type: str = Field("sveltos", description="sveltos or capi.")
    kubeconfig: str | None = Field(
        None, validation_alias=KUBECONFIG, description="Kubeconfig (default: in-cluster)."
    )
    cloudevent_subjects: list[str] = Field(
        default_factory=list, description="Extra NATS subjects carrying CloudEvents."
    )
    report_interval: float = Field(
        1.0,
        ge=0,
        le=3600,
        description=(
            "Seconds between two snapshots of a matching set in the deprecated ripple-reports "
            "bucket (longer for large sets; 0: none). Ripple's services read ripple-matches."
        ),
    )
    workers: int = Field(4, ge=1, le=64, description="Concurrent apply/removal workers.")
    helm_cache_dir: str | None = Field(
        None,
        description=(
            "Directory of downloaded Helm charts (default: $XDG_CACHE_HOME/ripple/helm, or a "
            "per-user directory in /tmp; chosen when the first chart is installed)."
        ),
    )
    helm_qps: float = Field(
        200.0, gt=0, le=10000, description="Requests per second of Helm's Kubernetes client."
    )
    helm_burst: int = Field(
        400, ge=1, le=20000, description="Request burst of Helm's Kubernetes client."
    )

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str) -> str:
        return check_cluster(value)

    @field_validator("cluster_type")
    @classmethod
    def _cluster_type(cls, value: str) -> str:
        if value not in ("sveltos", "capi"):
            raise ValueError("must be sveltos or capi")
        return value

    @property
    def cluster_ref(self) -> ClusterRef:
        namespace, _, name = self.cluster.partition("/")
        return ClusterRef(namespace=namespace, name=name, type=self.cluster_type)
