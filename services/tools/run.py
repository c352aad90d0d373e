"""``ripple agent`` / ``ripple manager`` / ``ripple reporter``: run one service.

Each command builds the service's typed settings (flags win over ``RIPPLE_*`` environment
variables; an invalid value is one line on stderr and exit code 2) and runs the service under
:func:`shared.runtime.service.run` (signals, ready file, metrics, exit code).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import typer


def _opt(default: Any, *flags: str, env: str, help: str, **kw: Any) -> Any:
    return typer.Option(default, *flags, help=f"{help} [env {env}]", show_default=False, **kw)


def _load(cls: Any, **flags: Any) -> Any:
    from shared.runtime.errors import InvalidSetting
    from shared.runtime.settings import load

    try:
        return load(cls, **flags)
    except InvalidSetting as exc:
        typer.echo(f"ripple: {exc}", err=True)
        raise typer.Exit(2) from None


def _run(name: str, settings: Any, main: Any, ident: str | None = None) -> None:
    from shared.runtime.service import run

    code = run(name, settings, functools.partial(main, settings), ident=ident)
    sys.stdout.flush()
    raise typer.Exit(code)


NATS = _opt(None, "--nats", env="RIPPLE_NATS_URL", help="NATS server URL(s), comma-separated.")
NATS_USER = _opt(None, "--nats-user", env="RIPPLE_NATS_USER", help="NATS user.")
NATS_PASSWORD = _opt(
    None, "--nats-password", env="RIPPLE_NATS_PASSWORD", help="NATS password (prefer the env)."
)
NATS_CREDS = _opt(None, "--nats-creds", env="RIPPLE_NATS_CREDS", help="NATS credentials file.")
READY = _opt(None, "--ready-file", env="RIPPLE_READY_FILE", help="Written once ready.")
METRICS_PORT = _opt(
    None,
    "--metrics-port",
    env="RIPPLE_METRICS_PORT",
    help="Serve /metrics, /healthz, /readyz on this port (0 = any).",
)
METRICS_HOST = _opt(
    None, "--metrics-host", env="RIPPLE_METRICS_HOST", help="Address of the metrics endpoint."
)
OTLP_ENDPOINT = _opt(
    None,
    "--otlp-endpoint",
    env="RIPPLE_OTLP_ENDPOINT",
    help="OTLP/HTTP collector receiving the service's traces, e.g. http://otel-collector:4318 "
    "(/v1/traces is added when the URL has no path; tracing is off when unset; "
    "docs/observability.md).",
)
TRACE_SAMPLE_RATIO = _opt(
    None,
    "--trace-sample-ratio",
    env="RIPPLE_TRACE_SAMPLE_RATIO",
    help="Share of new traces recorded when tracing (1.0; a change's later spans follow its "
    "first span's decision).",
)
MEMORY = typer.Option(False, "--memory-storage", help="JetStream memory storage (tests).")
LIVENESS_LOOP_BLOCKED = _opt(
    None,
    "--liveness-loop-blocked",
    env="RIPPLE_LIVENESS_LOOP_BLOCKED",
    help="Seconds the event loop may stay blocked before /livez answers 503 (10).",
)
LIVENESS_STALLED = _opt(
    None,
    "--liveness-stalled",
    env="RIPPLE_LIVENESS_STALLED",
    help="Seconds a work queue may hold work without finishing any before /livez answers "
    "503 (600; a handler failing and retrying with backoff is progress).",
)
KUBECONFIG_HELP = "Kubeconfig (default: in-cluster)."


def _flags(params: dict[str, Any]) -> dict[str, Any]:
    """A command's parameters as settings fields (``--nats`` is ``nats_url``,
    ``--memory-storage`` is ``storage``, ``--cloudevent-subject`` ``cloudevent_subjects``);
    flags left unset stay out, so the environment and the defaults apply."""
    renames = {"nats": "nats_url", "cloudevent_subject": "cloudevent_subjects"}
    out = {renames.get(k, k): v for k, v in params.items() if v is not None}
    out["storage"] = "memory" if out.pop("memory_storage", False) else None
    if not out.get("cloudevent_subjects"):
        out.pop("cloudevent_subjects", None)
    return out


def register(app: typer.Typer) -> None:
    @app.command("agent")
    def agent(
        cluster: str = _opt(
            None, "--cluster", env="RIPPLE_CLUSTER", help="This cluster as NAMESPACE/NAME."
        ),
        cluster_type: str = _opt(
            None, "--cluster-type", env="RIPPLE_CLUSTER_TYPE", help="sveltos (default) or capi."
        ),
        kubeconfig: str = _opt(None, "--kubeconfig", env="KUBECONFIG", help=KUBECONFIG_HELP),
        cloudevent_subject: list[str] = typer.Option(
            [],
            "--cloudevent-subject",
            help="Extra NATS subject carrying CloudEvents (repeatable); "
            "ripple.v1.cloudevents.<ns>.<type>--<cluster>.> is always read.",
        ),
        workers: int = _opt(
            None, "--workers", env="RIPPLE_WORKERS", help="Concurrent apply workers (4)."
        ),
        report_interval: float = _opt(
            None,
            "--report-interval",
            env="RIPPLE_REPORT_INTERVAL",
            help="Seconds between two snapshots of a matching set in the deprecated "
            "ripple-reports bucket (1; longer for large sets; 0: none). The matching sets "
            "themselves are published as deltas on ripple-matches.",
        ),
        helm_cache_dir: str = _opt(
            None,
            "--helm-cache-dir",
            env="RIPPLE_HELM_CACHE_DIR",
            help="Writable directory of the Helm charts downloaded from repositories "
            "(default: $XDG_CACHE_HOME/ripple/helm, else a per-user directory in /tmp).",
        ),
        helm_qps: float = _opt(
            None,
            "--helm-qps",
            env="RIPPLE_HELM_QPS",
            help="Requests per second of the Helm SDK's Kubernetes client (200; client-go's "
            "default of 5 makes an install take ~0.6 s).",
        ),
        helm_burst: int = _opt(
            None, "--helm-burst", env="RIPPLE_HELM_BURST", help="Its burst of requests (400)."
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
        """Run the agent of one managed cluster: watch, evaluate, publish the matching sets
        as deltas, apply the desired objects and install the desired Helm charts."""
        params = dict(locals())  # the flags, before anything else is bound
        from services.agent.settings import AgentSettings

        settings = _load(AgentSettings, **_flags(params))
        from services.agent.service import main

        _run("agent", settings, main, ident=str(settings.cluster_ref))

    @app.command("agent-host")
    def agent_host(
        clusters: Path = _opt(
            None,
            "--clusters",
            env="RIPPLE_CLUSTERS",
            metavar="FILE",
            help="YAML or JSON listing the hosted clusters (re-read when it changes): "
            "clusters: [{cluster: NS/NAME, type: sveltos|capi, kubeconfig: PATH, "
            "natsUser: USER, natsPassword: PW | natsPasswordFile: PATH}] (docs/agent-host.md).",
        ),
        from_management: bool = _opt(
            None,
            "--from-management/--no-from-management",
            env="RIPPLE_FROM_MANAGEMENT",
            help="Host the agents of the SveltosClusters and CAPI Clusters registered in the "
            "management cluster (--kubeconfig), kubeconfigs from their Secrets.",
        ),
        kubeconfig: str = _opt(
            None,
            "--kubeconfig",
            env="KUBECONFIG",
            help="Management cluster kubeconfig (--from-management; default: in-cluster).",
        ),
        nats_secret_suffix: str = _opt(
            None,
            "--nats-secret-suffix",
            env="RIPPLE_NATS_SECRET_SUFFIX",
            help="--from-management: Secret <cluster><suffix> in the cluster's namespace holds "
            "its agent's NATS user and password (keys user, password; -ripple-nats).",
        ),
        workers: int = _opt(
            None, "--workers", env="RIPPLE_WORKERS", help="Apply workers per hosted agent (2)."
        ),
        max_starting: int = _opt(
            None,
            "--max-starting",
            env="RIPPLE_MAX_STARTING",
            help="Agents connecting and loading at the same time (32).",
        ),
        threads: int = _opt(
            None,
            "--threads",
            env="RIPPLE_THREADS",
            help="Threads shared by the hosted agents' applies and other off-loop work (32).",
        ),
        poll_interval: float = _opt(
            None,
            "--poll-interval",
            env="RIPPLE_POLL_INTERVAL",
            help="Seconds between two looks at the list of clusters (2).",
        ),
        restart_max: float = _opt(
            None,
            "--restart-max",
            env="RIPPLE_RESTART_MAX",
            help="Longest wait before a failed agent is started again (60; from 1 s, doubling).",
        ),
        metrics_refresh: float = _opt(
            None,
            "--metrics-refresh",
            env="RIPPLE_METRICS_REFRESH",
            help="Seconds between two sums of the hosted agents' series served on /metrics "
            "(15; the host's own series are always current).",
        ),
        report_interval: float = _opt(
            None,
            "--report-interval",
            env="RIPPLE_REPORT_INTERVAL",
            help="As ripple agent --report-interval, for every hosted agent (1).",
        ),
        helm_cache_dir: str = _opt(
            None,
            "--helm-cache-dir",
            env="RIPPLE_HELM_CACHE_DIR",
            help="Writable directory of downloaded Helm charts (shared by the agents).",
        ),
        nats: str = NATS,
        nats_user: str = NATS_USER,
        nats_password: str = NATS_PASSWORD,
        nats_creds: Path = NATS_CREDS,
        ready_file: Path = READY,
        metrics_host: str = METRICS_HOST,
        metrics_port: int = METRICS_PORT,
        log_level: str = _opt(
            None, "--log-level", env="RIPPLE_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR."
        ),
        otlp_endpoint: str = OTLP_ENDPOINT,
        trace_sample_ratio: float = TRACE_SAMPLE_RATIO,
        liveness_loop_blocked: float = LIVENESS_LOOP_BLOCKED,
        liveness_stalled: float = LIVENESS_STALLED,
    ) -> None:
        """Host the agents of many clusters in one process (centralized agent mode): each
        cluster with its own NATS user, Kubernetes client, informers and work queues; one
        cluster's failure restarts its agent only. The NATS credentials given here are used
        by the clusters whose entry names none."""
        params = dict(locals())  # the flags, before anything else is bound
        from services.agent.hostsettings import HostSettings

        flags = _flags(params)
        flags.pop("storage", None)
        settings = _load(HostSettings, **flags)
        if log_level:
            from shared import logs

            logs.setup(settings.log_level)
        from services.agent.hostservice import main

        _run("agent_host", settings, main, ident="agent-host")

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
        lease: bool = _opt(
            None,
            "--lease/--no-lease",
            env="RIPPLE_LEASE",
            help="One of several replicas: active only while holding the lease in KV "
            "ripple-leases, a standby (connected, not ready, writing nothing) until then "
            "(off; docs/failover.md).",
        ),
        lease_ttl: float = _opt(
            None,
            "--lease-ttl",
            env="RIPPLE_LEASE_TTL",
            metavar="SECONDS",
            help="Silence of the lease after which a standby takes over (3).",
        ),
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
        lease: bool = _opt(
            None,
            "--lease/--no-lease",
            env="RIPPLE_LEASE",
            help="One of several replicas: active only while holding the lease in KV "
            "ripple-leases, a standby (connected, not ready, writing nothing) until then "
            "(off; docs/failover.md).",
        ),
        lease_ttl: float = _opt(
            None,
            "--lease-ttl",
            env="RIPPLE_LEASE_TTL",
            metavar="SECONDS",
            help="Silence of the lease after which a standby takes over (3).",
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
        """Run the reporter: mirror NATS state into EventReport/ClusterProfile CRDs."""
        params = dict(locals())  # the flags, before anything else is bound
        from services.reporter.settings import ReporterSettings

        settings = _load(ReporterSettings, **_flags(params))
        from services.reporter.service import main

        _run("reporter", settings, main)
