"""The manager's settings (``ripple manager --help``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from services.manager.guard import Bound
from services.manager.model import ClusterKey
from services.manager.shardsettings import ShardSettings
from shared.runtime.liveness import LivenessSettings
from shared.runtime.settings import KUBECONFIG, ServiceSettings
from shared.runtime.standby import LeaseSettings
from shared.templating import Limits


class ManagerSettings(ServiceSettings, LivenessSettings, ShardSettings, LeaseSettings):
    kubeconfig: str | None = Field(
        None, validation_alias=KUBECONFIG, description="Management cluster kubeconfig."
    )
    api_host: str = Field("127.0.0.1", description="REST API address.")
    api_port: int | None = Field(
        None, ge=0, le=65535, description="REST API port (off when unset; 0 = any)."
    )
    api_token: SecretStr | None = Field(None, description="Bearer token required by the REST API.")
    coalesce: float = Field(
        0.002, ge=0, le=10, description="Seconds inputs are batched before one reconcile."
    )
    removal_grace: float = Field(
        0.0, ge=0, description="Seconds an add-on stays after its event went away."
    )
    workers: int = Field(8, ge=1, le=64, description="Concurrent NATS publication workers.")
    stream_replicas: int | None = Field(
        None,
        ge=1,
        le=5,
        description=(
            "Replicas of every provisioned stream and bucket (3 on a 3-node JetStream "
            "cluster): existing ones are updated to it; more than the cluster's servers is "
            "refused. Unset: new ones get 1, existing ones keep theirs."
        ),
    )
    max_message_bytes: int = Field(
        0, ge=0, description="Largest desired state published (0: the server's max_payload)."
    )
    render_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description=(
            "Wall-clock budget of one template render (a render past it is refused and shown "
            "in its trigger's status; a costly call started within it may end after it)."
        ),
    )
    render_memory: int = Field(
        64 << 20,
        ge=1 << 20,
        description="Bytes of values one template render may build (and a costly call may need).",
    )

    management_cluster: str = Field(
        "",
        description=(
            "The registered cluster that is the management cluster itself, as NAMESPACE/NAME "
            "of its SveltosCluster (capi:NAMESPACE/NAME for a CAPI Cluster), e.g. mgmt/mgmt: "
            "where policyRefs with deploymentType Local are deployed (by that cluster's "
            "agent). Unset: a Local policyRef is an instantiation error, never deployed "
            "remotely."
        ),
    )

    @field_validator("management_cluster")
    @classmethod
    def _management_cluster(cls, value: str) -> str:
        if value:
            management_key(value)  # raises ValueError naming the expected form
        return value

    def management_key(self) -> ClusterKey | None:
        """The management cluster's registration (None when not set)."""
        return management_key(self.management_cluster) if self.management_cluster else None

    withdrawal_guard: bool = Field(
        True,
        description=(
            "Hold a change that would withdraw more than the share and more than the minimum "
            "of a trigger's instances, until confirmed by the annotation "
            "ripple.io/confirm-withdrawal or until the instances come back."
        ),
    )
    withdrawal_guard_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of a trigger's instances one change may withdraw without a hold.",
    )
    withdrawal_guard_min: int = Field(
        5, ge=0, description="Instances one change may always withdraw without a hold."
    )
    withdrawal_guard_window: float = Field(
        2.0,
        ge=0,
        le=300,
        description=(
            "After a change of definitions or clusters, a trigger's withdrawals within this "
            "many seconds of its first one count as one change and wait for the verdict (only "
            "triggers with more instances than the minimum); an event's withdrawals get theirs "
            "at once."
        ),
    )

    def withdrawal_bound(self) -> Bound:
        """The withdrawal guard's bound (:class:`services.manager.guard.Bound`)."""
        return Bound(
            share=self.withdrawal_guard_share,
            minimum=self.withdrawal_guard_min,
            window=self.withdrawal_guard_window,
            enabled=self.withdrawal_guard,
        )

    def render_limits(self) -> Limits:
        """The bounds of each render (:class:`shared.templating.Limits`)."""
        return Limits(max_seconds=self.render_seconds, max_memory=self.render_memory)


def management_key(text: str) -> ClusterKey:
    """``NAMESPACE/NAME`` (a SveltosCluster) or ``capi:NAMESPACE/NAME`` (a CAPI Cluster)."""
    ctype, _, ref = text.rpartition(":")
    namespace, _, name = ref.partition("/")
    if ctype not in ("", "sveltos", "capi") or not namespace or not name or "/" in name:
        raise ValueError(
            f"management cluster {text!r}: expected NAMESPACE/NAME of its SveltosCluster "
            "(or capi:NAMESPACE/NAME of a CAPI Cluster), e.g. mgmt/mgmt"
        )
    return ClusterKey(namespace, name, ctype or "sveltos")
