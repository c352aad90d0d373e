"""``ripple fleet serve``: the simulated fleet (many Kubernetes API servers in one process)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    fleet = typer.Typer(
        name="fleet",
        help="The simulated fleet: Kubernetes API servers for many clusters in one process.",
        no_args_is_help=True,
    )

    @fleet.command("serve")
    def serve(
        clusters: str = typer.Option(
            "", "--clusters", help="Comma-separated cluster names (besides 'management')."
        ),
        config: Path | None = typer.Option(
            None,
            "--config",
            help="fleet.yaml: clusters: [{namespace, name, type, labels}], users: [{name, token, groups}], rbac.",
        ),
        dir: Path = typer.Option(..., "--dir", help="Directory for <cluster>.kubeconfig files."),
        port: int = typer.Option(
            0, "--port", min=0, max=65535, help="TCP port (0: any free port)."
        ),
        host: str = typer.Option(
            "127.0.0.1",
            "--host",
            help="Address to listen on: 0.0.0.0 (or ::) for every interface, e.g. so that "
            "containers reach the fleet on their host. Anyone who can reach it and holds a "
            "kubeconfig's token is the clusters' admin.",
        ),
        advertise: str | None = typer.Option(
            None,
            "--advertise",
            metavar="HOST",
            help="Address or DNS name clients connect to, written into the kubeconfigs and "
            "named in the TLS certificate (besides 127.0.0.1 and localhost), e.g. "
            "host.docker.internal (default: --host, or 127.0.0.1 when it is a wildcard). "
            "Kubeconfigs through 127.0.0.1 are then also written to DIR/local/.",
        ),
        log_size: int = typer.Option(
            1000, "--log-size", help="Watch events kept per cluster for resumes."
        ),
        bookmark_interval: float = typer.Option(
            60.0,
            "--bookmark-interval",
            min=0.1,
            metavar="SECONDS",
            help="Seconds between two bookmarks on an idle watch that asked for them (a real "
            "API server sends about one a minute; each costs the fleet and every informer a "
            "wake-up, 2,000 a second at 1,000 clusters with 1 s).",
        ),
        tls: bool = typer.Option(
            True,
            "--tls/--no-tls",
            help="HTTPS with a self-signed CA in the kubeconfigs "
            "(kubectl sends bearer tokens only over TLS).",
        ),
        rbac: bool | None = typer.Option(
            None,
            "--rbac/--no-rbac",
            help="Authorize requests the admin impersonates (Impersonate-User) with each "
            "cluster's Roles/ClusterRoles and bindings (default: fleet.yaml's 'rbac', else on, "
            "as a real API server; --no-rbac lets identities the admin impersonates act as "
            "the admin). Static users and ServiceAccount tokens are always "
            "authorized with RBAC; the admin token is always allowed.",
        ),
    ) -> None:
        """Serve the clusters (on 127.0.0.1 unless --host) until SIGTERM or Ctrl-C.

        Cluster NAME is at https://HOST:PORT/clusters/NAME; the management cluster at
        /clusters/management and at the root. DIR/NAME.kubeconfig holds the URL, the CA and
        the fleet's admin token; DIR/fleet.json the URL once serving; test hooks live under
        /_fleet/.
        """
        import asyncio

        from services.fleet import cluster_info, load_fleet_yaml, serve_forever
        from services.fleet.errors import FleetConfigError
        from services.fleet.handle import load_fleet_access

        try:
            specs = [cluster_info(n.strip()) for n in clusters.split(",") if n.strip()]
            users: list[dict[str, object]] = []
            if config is not None:
                specs += load_fleet_yaml(config)
                settings = load_fleet_access(config)
                users = settings["users"]
                rbac_on = settings["rbac"] if rbac is None else rbac
            else:
                rbac_on = rbac
            asyncio.run(
                serve_forever(
                    specs,
                    dir,
                    port,
                    host,
                    log_size=log_size,
                    bookmark_interval=bookmark_interval,
                    advertise=advertise,
                    tls=tls,
                    rbac=rbac_on,
                    users=users,
                    announce=lambda m: typer.echo(m),
                )
            )
        except FleetConfigError as exc:
            typer.echo(f"ripple fleet serve: {exc}", err=True)
            raise typer.Exit(2) from exc
        except OSError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            typer.echo(f"ripple fleet serve: cannot serve on {where}: {exc}", err=True)
            raise typer.Exit(1) from exc

    app.add_typer(fleet, name="fleet")
