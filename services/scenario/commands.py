"""The command lines of a stack's child processes (pure): the simulated fleet and the services,
each ``python -m services.cli ...`` with the caller's interpreter.

The services' CLIs: ``ripple manager --kubeconfig MGMT --nats URL --ready-file PATH
--api-port N``, ``ripple reporter --kubeconfig MGMT --nats URL --ready-file PATH``,
``ripple agent --cluster NS/NAME --cluster-type sveltos|capi --kubeconfig CLUSTER --nats URL
--ready-file PATH``, or for hosted agents one ``ripple agent-host --clusters FILE --nats URL
--ready-file PATH`` (:func:`agent_host_command`, the file from :func:`hosted_clusters`); the
fleet's: ``ripple fleet serve --config fleet.yaml --dir DIR --port N``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.scenario.model import Fleet
from services.scenario.processes import ripple_command

AGENT_HOST = "agent-host"
"""Process (log, ready file, metrics) name of the one process hosting every cluster's agent."""


@dataclass(frozen=True)
class ServiceCommand:
    name: str
    argv: list[str]
    ready_file: Path


def agent_name(cluster: str) -> str:
    """``agent-<namespace>-<name>`` (log and ready file name of a cluster's agent)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in cluster.replace("/", "-"))
    return f"agent-{safe}"


def fleet_command(fleet_file: Path, kubeconfig_dir: Path, port: int, log_level: str) -> list[str]:
    return ripple_command(
        "--log-level",
        log_level,
        "fleet",
        "serve",
        "--config",
        str(fleet_file),
        "--dir",
        str(kubeconfig_dir),
        "--port",
        str(port),
    )


def service_commands(
    fleet: Fleet,
    *,
    nats_url: str,
    management_kubeconfig: Path,
    cluster_kubeconfig: dict[str, Path],
    ready_dir: Path,
    api_port: int,
    log_level: str,
    metrics_ports: dict[str, int] | None = None,
    hosted_file: Path | None = None,
) -> list[ServiceCommand]:
    """Manager, reporter, then one agent per cluster of the fleet, or (``hosted_file``: the
    clusters file of :func:`hosted_clusters`) one ``agent-host`` for all of them.
    ``metrics_ports`` (service name -> port) adds ``--metrics-port`` to the services named
    there."""
    level = ["--log-level", log_level]
    ports = metrics_ports or {}

    def metrics(name: str) -> list[str]:
        return ["--metrics-port", str(ports[name])] if name in ports else []

    common = ["--nats", nats_url]
    mgmt = ["--kubeconfig", str(management_kubeconfig)]
    out = [
        ServiceCommand(
            "manager",
            ripple_command(
                *level,
                "manager",
                *mgmt,
                *common,
                "--ready-file",
                str(ready_dir / "manager"),
                "--api-port",
                str(api_port),
                *metrics("manager"),
            ),
            ready_dir / "manager",
        ),
        ServiceCommand(
            "reporter",
            ripple_command(
                *level,
                "reporter",
                *mgmt,
                *common,
                "--ready-file",
                str(ready_dir / "reporter"),
                *metrics("reporter"),
            ),
            ready_dir / "reporter",
        ),
    ]
    if hosted_file is not None:
        argv = ripple_command(
            *level,
            AGENT_HOST,
            "--clusters",
            str(hosted_file),
            *common,
            "--ready-file",
            str(ready_dir / AGENT_HOST),
            *metrics(AGENT_HOST),
        )
        return [*out, ServiceCommand(AGENT_HOST, argv, ready_dir / AGENT_HOST)]
    for cluster in fleet.clusters:
        name = agent_name(cluster.ref)
        argv = ripple_command(
            *level,
            "agent",
            "--cluster",
            cluster.ref,
            "--cluster-type",
            cluster.type,
            "--kubeconfig",
            str(cluster_kubeconfig[cluster.ref]),
            *common,
            "--ready-file",
            str(ready_dir / name),
            *metrics(name),
        )
        out.append(ServiceCommand(name, argv, ready_dir / name))
    return out


def hosted_clusters(
    fleet: Fleet,
    kubeconfigs: Mapping[str, Path],
    nats_users: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The clusters file of ``ripple agent-host`` (its ``clusters:`` list): every cluster of
    the fleet with its type, kubeconfig and, when ``nats_users`` (cluster ``NS/NAME`` ->
    ``(user, password)``) has it, its own NATS user and password."""
    entries: list[dict[str, Any]] = []
    for cluster in fleet.clusters:
        entry: dict[str, Any] = {
            "cluster": cluster.ref,
            "type": cluster.type,
            "kubeconfig": str(kubeconfigs[cluster.ref]),
        }
        user = (nats_users or {}).get(cluster.ref)
        if user is not None:
            entry["natsUser"], entry["natsPassword"] = user
        entries.append(entry)
    return {"clusters": entries}
