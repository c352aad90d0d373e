"""``ripple agent`` / ``ripple agent-host``: run the agents (the management side's services:
:mod:`services.tools.runmanagement`).

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
