"""``ripple agent`` / ``ripple manager`` / ``ripple reporter``: run one service."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

NATS_HELP = "NATS server URL (env RIPPLE_NATS_URL)."


def _run(coro: Any) -> None:
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        pass


def _cluster(value: str) -> tuple[str, str]:
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name:
        raise typer.BadParameter(f"{value!r} is not NAMESPACE/NAME")
    return namespace, name


def register(app: typer.Typer) -> None:
    @app.command("agent")
    def agent(
        cluster: str = typer.Option(
            ..., "--cluster", envvar="RIPPLE_CLUSTER", help="This cluster as NAMESPACE/NAME."
        ),
        cluster_type: str = typer.Option(
            "sveltos", "--cluster-type", envvar="RIPPLE_CLUSTER_TYPE", help="sveltos or capi."
        ),
        kubeconfig: str = typer.Option(
            None, "--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig (default: in-cluster)."
        ),
        nats: str = typer.Option(
            "nats://127.0.0.1:4222", "--nats", envvar="RIPPLE_NATS_URL", help=NATS_HELP
        ),
        ready_file: str = typer.Option(
            None, "--ready-file", help="Written once the agent is ready."
        ),
        metrics_port: int = typer.Option(
            None, "--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics."
        ),
        cloudevent_subject: list[str] = typer.Option(
            [],
            "--cloudevent-subject",
            help="Extra NATS subject carrying CloudEvents (repeatable); "
            "ripple.v1.cloudevents.<ns>.<type>--<cluster>.> is always read.",
        ),
        memory_storage: bool = typer.Option(
            False, "--memory-storage", help="JetStream memory storage (tests)."
        ),
    ) -> None:
        """Run the agent of one managed cluster: watch, evaluate, report, apply."""
        from services.agent.service import run_agent
        from shared.contract.subjects import ClusterRef

        if cluster_type not in ("sveltos", "capi"):
            raise typer.BadParameter("--cluster-type must be sveltos or capi")
        namespace, name = _cluster(cluster)
        ref = ClusterRef(namespace=namespace, name=name, type=cluster_type)  # type: ignore[arg-type]
        _run(
            run_agent(
                cluster=ref,
                kubeconfig=kubeconfig,
                nats_url=nats,
                ready_file=ready_file,
                storage="memory" if memory_storage else "file",
                cloudevent_subjects=list(cloudevent_subject),
                metrics_port=metrics_port,
            )
        )

    @app.command("manager")
    def manager(
        kubeconfig: str = typer.Option(
            None, "--kubeconfig", envvar="KUBECONFIG", help="Management cluster kubeconfig."
        ),
        nats: str = typer.Option(
            "nats://127.0.0.1:4222", "--nats", envvar="RIPPLE_NATS_URL", help=NATS_HELP
        ),
        ready_file: str = typer.Option(
            None, "--ready-file", help="Written once the manager is ready."
        ),
        api_host: str = typer.Option("127.0.0.1", "--api-host", help="REST API address."),
        api_port: int = typer.Option(
            None, "--api-port", help="REST API port (off when unset; 0 = any)."
        ),
        api_token: str = typer.Option(
            None,
            "--api-token",
            envvar="RIPPLE_API_TOKEN",
            help="Bearer token required by the REST API.",
        ),
        memory_storage: bool = typer.Option(
            False, "--memory-storage", help="JetStream memory storage (tests)."
        ),
        removal_grace: float = typer.Option(
            0.0,
            "--removal-grace",
            envvar="RIPPLE_REMOVAL_GRACE",
            help="Seconds an add-on stays after its event went away (0: remove at once).",
        ),
    ) -> None:
        """Run the manager: definitions + reports -> assignments, desired state, REST API."""
        from services.manager.service import run_manager

        _run(
            run_manager(
                kubeconfig=kubeconfig,
                nats_url=nats,
                ready_file=ready_file,
                api_host=api_host,
                api_port=api_port,
                api_token=api_token,
                removal_grace=removal_grace,
                storage="memory" if memory_storage else "file",
            )
        )

    @app.command("reporter")
    def reporter(
        kubeconfig: str = typer.Option(
            None, "--kubeconfig", envvar="KUBECONFIG", help="Management cluster kubeconfig."
        ),
        nats: str = typer.Option(
            "nats://127.0.0.1:4222", "--nats", envvar="RIPPLE_NATS_URL", help=NATS_HELP
        ),
        ready_file: str = typer.Option(
            None, "--ready-file", help="Written once the reporter is ready."
        ),
        memory_storage: bool = typer.Option(
            False, "--memory-storage", help="JetStream memory storage (tests)."
        ),
    ) -> None:
        """Run the reporter: mirror NATS state into EventReport/ClusterProfile CRDs."""
        from services.reporter.service import run_reporter

        _run(
            run_reporter(
                kubeconfig=kubeconfig,
                nats_url=nats,
                ready_file=ready_file,
                storage="memory" if memory_storage else "file",
            )
        )
