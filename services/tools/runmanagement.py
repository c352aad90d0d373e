"""``ripple manager`` / ``ripple reporter``: run the management side's services.

Built like ``ripple agent`` (:mod:`services.tools.run`): typed settings, flags over
``RIPPLE_*`` variables, an invalid value is one line and exit code 2, the service run under
:func:`shared.runtime.service.run`. Both take ``--lease`` (one active replica through a
lease in NATS KV, docs/failover.md); the manager also ``--shards`` (docs/sharding.md) and
``--stream-replicas`` (docs/nats-cluster.md).
"""

from __future__ import annotations

from pathlib import Path

import typer

from services.tools.run import (
    LIVENESS_LOOP_BLOCKED,
    LIVENESS_STALLED,
    MEMORY,
    METRICS_HOST,
    METRICS_PORT,
    NATS,
    NATS_CREDS,
    NATS_PASSWORD,
    NATS_USER,
    OTLP_ENDPOINT,
    READY,
    TRACE_SAMPLE_RATIO,
    _flags,
    _load,
    _opt,
    _run,
)

LEASE = _opt(
    None,
    "--lease/--no-lease",
    env="RIPPLE_LEASE",
    help="One of several replicas: active only while holding the lease in KV ripple-leases, "
    "a standby (connected, not ready, writing nothing) until then (off; docs/failover.md).",
)
LEASE_TTL = _opt(
    None,
    "--lease-ttl",
    env="RIPPLE_LEASE_TTL",
    metavar="SECONDS",
    help="Silence of the lease after which a standby takes over (3).",
)


def register(app: typer.Typer) -> None:
    @app.command("manager")
    def manager(
        kubeconfig: str = _opt(
            None, "--kubeconfig", env="KUBECONFIG", help="Management cluster kubeconfig."
        ),
        api_host: str = _opt(None, "--api-host", env="RIPPLE_API_HOST", help="REST API address."),
        api_port: int = _opt(
            None, "--api-port", env="RIPPLE_API_PORT", help="REST API port (off when unset)."
        ),
        api_token: str = _opt(
            None, "--api-token", env="RIPPLE_API_TOKEN", help="Bearer token required by REST."
        ),
        removal_grace: float = _opt(
            None,
            "--removal-grace",
            env="RIPPLE_REMOVAL_GRACE",
            help="Seconds an add-on stays after its event went away (0: remove at once).",
        ),
        workers: int = _opt(
            None, "--workers", env="RIPPLE_WORKERS", help="Concurrent publication workers (8)."
        ),
        render_seconds: float = _opt(
            None,
            "--render-seconds",
            env="RIPPLE_RENDER_SECONDS",
            help="Wall-clock budget of one template render (0.5; a render past it is refused "
            "with its trigger, template and resource named).",
        ),
        render_memory: int = _opt(
            None,
            "--render-memory",
            env="RIPPLE_RENDER_MEMORY",
            help="Bytes of values one render may build (67108864).",
        ),
        withdrawal_guard: bool = _opt(
            None,
            "--withdrawal-guard/--no-withdrawal-guard",
            env="RIPPLE_WITHDRAWAL_GUARD",
            help="Hold a change that would withdraw most of a trigger's instances until it is "
            "confirmed (annotation ripple.io/confirm-withdrawal=TOKEN, the token in the "
            "trigger's status) or the instances come back (on).",
        ),
        withdrawal_guard_share: float = _opt(
            None,
            "--withdrawal-guard-share",
            env="RIPPLE_WITHDRAWAL_GUARD_SHARE",
            metavar="SHARE",
            help="Held when one change would withdraw more than this share of a trigger's "
            "instances (0.5) and more than --withdrawal-guard-min of them.",
        ),
        withdrawal_guard_min: int = _opt(
            None,
            "--withdrawal-guard-min",
            env="RIPPLE_WITHDRAWAL_GUARD_MIN",
            metavar="N",
            help="Instances one change may always withdraw (5).",
        ),
        withdrawal_guard_window: float = _opt(
            None,
            "--withdrawal-guard-window",
            env="RIPPLE_WITHDRAWAL_GUARD_WINDOW",
            metavar="SECONDS",
            help="After a change of definitions or clusters, a trigger's withdrawals within "
            "this many seconds of its first one count as one change and wait for the verdict "
            "(2.0; only triggers with more instances than the minimum; 0: none wait).",
        ),
        management_cluster: str = _opt(
            None,
            "--management-cluster",
            env="RIPPLE_MANAGEMENT_CLUSTER",
            metavar="NS/NAME",
            help="The registered cluster that is the management cluster (e.g. mgmt/mgmt; "
            "capi:NS/NAME): where deploymentType Local policyRefs and generated Secrets are "
            "deployed, by its agent (none: a Local policyRef is an error in status).",
        ),
        lease: bool = LEASE,
        lease_ttl: float = LEASE_TTL,
        stream_replicas: int = _opt(
            None,
            "--stream-replicas",
            env="RIPPLE_STREAM_REPLICAS",
            metavar="N",
            help="Replicas of every stream and bucket it provisions (3 on a 3-node JetStream "
            "cluster; unset: new ones get 1, existing ones keep theirs; docs/nats-cluster.md).",
        ),
        shards: int = _opt(
            None,
            "--shards",
            env="RIPPLE_SHARDS",
            metavar="N",
            help="1: this manager owns every cluster (default). More: one of the shards of "
            "--shard-group, splitting the source clusters through KV ripple-shards "
            "(docs/sharding.md).",
        ),
        shard_group: str = _opt(
            None, "--shard-group", env="RIPPLE_SHARD_GROUP", help="The group of shards (default)."
        ),
        shard_id: str = _opt(
            None,
            "--shard-id",
            env="RIPPLE_SHARD_ID",
            help="This member's id in its group (HOSTNAME-PID; required with --lease).",
        ),
        shard_key: str = _opt(
            None,
            "--shard-key",
            env="RIPPLE_SHARD_KEY",
            help="Sveltos' shard key: own the clusters annotated sharding.projectsveltos.io/key "
            "with this value.",
        ),
        shard_ttl: float = _opt(
            None,
            "--shard-ttl",
            env="RIPPLE_SHARD_TTL",
            metavar="SECONDS",
            help="Seconds after which a member that did not renew its key is gone (6).",
        ),
        nats: str = NATS,
        nats_user: str = NATS_USER,
        nats_password: str = NATS_PASSWORD,
        nats_creds: Path = NATS_CREDS,
        ready_file: Path = READY,
        metrics_host: str = METRICS_HOST,
        metrics_port: int = METRICS_PORT,
        otlp_endpoint: str = OTLP_ENDPOINT,
        trace_sample_ratio: float = TRACE_SAMPLE_RATIO,
        memory_storage: bool = MEMORY,
        liveness_loop_blocked: float = LIVENESS_LOOP_BLOCKED,
        liveness_stalled: float = LIVENESS_STALLED,
    ) -> None:
        """Run the manager: definitions + matching sets -> assignments, desired state, REST
        API."""
        params = dict(locals())  # the flags, before anything else is bound
        from services.manager.settings import ManagerSettings

        settings = _load(ManagerSettings, **_flags(params))
        from services.manager.service import main

        _run("manager", settings, main)

    @app.command("reporter")
    def reporter(
        kubeconfig: str = _opt(
            None, "--kubeconfig", env="KUBECONFIG", help="Management cluster kubeconfig."
        ),
        workers: int = _opt(
            None, "--workers", env="RIPPLE_WORKERS", help="Concurrent Kubernetes writers (4)."
        ),
        write_delay: float = _opt(
            None,
            "--write-delay",
            env="RIPPLE_WRITE_DELAY",
            metavar="SECONDS",
            help="Seconds a changed object waits before it is written, so that the changes "
            "within it are one write; identical rewrites are skipped (1.0; 0: at once).",
        ),
        report_budget: int = _opt(
            None,
            "--report-budget",
            env="RIPPLE_REPORT_BUDGET",
            metavar="BYTES",
            help="Size budget of one EventReport: over it the collected objects, then the "
            "references that do not fit, are left out and the status says so (1048576).",
        ),
        lease: bool = LEASE,
        lease_ttl: float = LEASE_TTL,
        nats: str = NATS,
        nats_user: str = NATS_USER,
        nats_password: str = NATS_PASSWORD,
        nats_creds: Path = NATS_CREDS,
        ready_file: Path = READY,
        metrics_host: str = METRICS_HOST,
        metrics_port: int = METRICS_PORT,
        otlp_endpoint: str = OTLP_ENDPOINT,
        trace_sample_ratio: float = TRACE_SAMPLE_RATIO,
        memory_storage: bool = MEMORY,
        liveness_loop_blocked: float = LIVENESS_LOOP_BLOCKED,
        liveness_stalled: float = LIVENESS_STALLED,
    ) -> None:
        """Run the reporter: mirror NATS state into EventReport/ClusterProfile CRDs."""
        params = dict(locals())  # the flags, before anything else is bound
        from services.reporter.settings import ReporterSettings

        settings = _load(ReporterSettings, **_flags(params))
        from services.reporter.service import main

        _run("reporter", settings, main)
