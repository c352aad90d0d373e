"""``python -m services.fleet``: run a fleet (used by :func:`start_fleet_process`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from services.fleet.handle import cluster_info, load_fleet_access, load_fleet_yaml
from services.fleet.runner import serve_forever
from services.fleet.state import ClusterInfo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.fleet")
    parser.add_argument("--clusters", default="", help="comma-separated cluster names")
    parser.add_argument("--config", help="fleet.yaml: clusters: [{namespace, name, type, labels}]")
    parser.add_argument("--dir", required=True, help="where kubeconfigs are written")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0: every one)")
    parser.add_argument(
        "--advertise",
        help="address the kubeconfigs and the TLS certificate name (default: --host)",
    )
    parser.add_argument("--log-size", type=int, default=1000)
    parser.add_argument(
        "--no-tls",
        action="store_true",
        help="plain HTTP (kubectl then sends no token: Python clients only)",
    )
    parser.add_argument(
        "--rbac",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="authorize requests the admin impersonates with the clusters' RBAC objects "
        "(default: fleet.yaml's rbac, else on, as a real API server; --no-rbac lets them act "
        "as the admin)",
    )
    parser.add_argument("--profile", help="write cProfile statistics to this file at exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    clusters = [cluster_info(n.strip()) for n in args.clusters.split(",") if n.strip()]
    users: list[dict[str, Any]] = []
    rbac: bool | None = args.rbac
    if args.config:
        clusters += load_fleet_yaml(args.config)
        settings = load_fleet_access(args.config)
        users = settings["users"]
        rbac = settings["rbac"] if rbac is None else rbac
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        _serve(args, clusters, users, rbac)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)


def _serve(
    args: argparse.Namespace,
    clusters: list[ClusterInfo],
    users: list[dict[str, Any]],
    rbac: bool | None,
) -> None:
    asyncio.run(
        serve_forever(
            clusters,
            args.dir,
            args.port,
            args.host,
            log_size=args.log_size,
            advertise=args.advertise,
            tls=not args.no_tls,
            rbac=rbac,
            users=users,
        )
    )


if __name__ == "__main__":
    main()
