"""``ripple conversion-webhook``: serve the CRD conversion webhook over HTTPS.

The Kubernetes API server calls it to convert EventSources, EventTriggers and
ClusterProfiles between v1alpha1 and v1beta1 (docs/crds.md). The Helm chart runs it
(``conversionWebhook.enabled``); outside a cluster (the simulated fleet, a test), point the
CRDs at it with ``shared.api.crds.crd_documents(Webhook(url=..., ca_bundle=...))``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from services.tools.options import fail, log_level_option

HELP = (
    "Serve the CRD conversion webhook (ConversionReview v1) over HTTPS.\n\n"
    "The API server POSTs ConversionReviews to https://HOST:PORT/convert and gets the objects "
    "converted between v1alpha1 and v1beta1 (EventSource: the flat v1alpha1 form and script; "
    "EventTrigger and ClusterProfile: selector strings vs LabelSelectors). GET /healthz answers "
    "when it serves; GET /metrics has its counters.\n\n"
    "The certificate must name the address the API server uses (the chart's Service: "
    "NAME.NAMESPACE.svc) and the CRDs' caBundle must hold the CA that signed it (docs/crds.md)."
    "\n\nExample: ripple conversion-webhook --port 9443 --tls-cert tls.crt --tls-key tls.key"
    "\n\nLocally: ripple conversion-webhook --host 127.0.0.1 --port 9443 --cert-dir webhook-tls"
)


def register(app: typer.Typer) -> None:
    @app.command("conversion-webhook", help=HELP)
    def conversion_webhook(
        host: str = typer.Option(
            "0.0.0.0", "--host", envvar="RIPPLE_WEBHOOK_HOST", help="Address to listen on."
        ),
        port: int = typer.Option(
            9443,
            "--port",
            envvar="RIPPLE_WEBHOOK_PORT",
            help="HTTPS port (0: any free port, printed on start).",
        ),
        tls_cert: Path | None = typer.Option(
            None,
            "--tls-cert",
            envvar="RIPPLE_WEBHOOK_TLS_CERT",
            help="PEM certificate (chain) served to the API server.",
        ),
        tls_key: Path | None = typer.Option(
            None, "--tls-key", envvar="RIPPLE_WEBHOOK_TLS_KEY", help="PEM private key."
        ),
        cert_dir: Path | None = typer.Option(
            None,
            "--cert-dir",
            envvar="RIPPLE_WEBHOOK_CERT_DIR",
            help=(
                "Instead of --tls-cert/--tls-key: make (once) a CA and a certificate for --host "
                "in this directory (ca.crt, tls.crt, tls.key); the CRDs' caBundle is base64 of "
                "ca.crt. For the simulated fleet and local tries, not for production."
            ),
        ),
        ready_file: Path | None = typer.Option(
            None,
            "--ready-file",
            envvar="RIPPLE_READY_FILE",
            help="Written (with the port) once the webhook serves.",
        ),
        log_level: str = log_level_option("INFO", "--log-level", "Log level.", "RIPPLE_LOG_LEVEL"),
    ) -> None:
        if not 0 <= port < 65536:
            fail(f"invalid --port {port}: use 1-65535 (0: any free port, printed on start)")
        if cert_dir is not None:
            if tls_cert is not None or tls_key is not None:
                fail("--cert-dir makes the certificate: give it or --tls-cert/--tls-key, not both")
            from services.manager.webhookcerts import ensure

            hosts = [host] if host not in ("0.0.0.0", "::") else []
            files = ensure(cert_dir, [*hosts, "127.0.0.1", "localhost"])
            tls_cert, tls_key = files.cert, files.key
        if tls_cert is None or tls_key is None:
            fail("give --tls-cert and --tls-key (or --cert-dir)")
            return
        for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
            if not path.is_file():
                fail(f"{flag} {path}: no such file")
        import asyncio
        import logging
        import ssl

        from services.manager.webhook import serve

        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls_cert, tls_key)
        except (ssl.SSLError, ValueError) as exc:
            fail(f"--tls-cert/--tls-key: not a usable certificate and key: {exc}")
        logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")

        def started(bound: int) -> None:
            typer.echo(f"conversion webhook on https://{host}:{bound}/convert", err=True)
            if ready_file is not None:
                ready_file.parent.mkdir(parents=True, exist_ok=True)
                ready_file.write_text(f"{bound}\n")

        try:
            asyncio.run(serve(host, port, str(tls_cert), str(tls_key), started=started))
        except KeyboardInterrupt:
            pass
