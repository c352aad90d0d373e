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
)


def register(app: typer.Typer) -> None:
    @app.command("conversion-webhook", help=HELP)
    def conversion_webhook(
        host: str = typer.Option(
            "0.0.0.0", "--host", envvar="RIPPLE_WEBHOOK_HOST", help="Address to listen on."
        ),
        port: int = typer.Option(
            9443, "--port", envvar="RIPPLE_WEBHOOK_PORT", help="HTTPS port (1-65535)."
        ),
        tls_cert: Path = typer.Option(
            ...,
            "--tls-cert",
            envvar="RIPPLE_WEBHOOK_TLS_CERT",
            help="PEM certificate (chain) served to the API server.",
        ),
        tls_key: Path = typer.Option(
            ..., "--tls-key", envvar="RIPPLE_WEBHOOK_TLS_KEY", help="PEM private key."
        ),
        log_level: str = log_level_option("INFO", "--log-level", "Log level.", "RIPPLE_LOG_LEVEL"),
    ) -> None:
        if not 0 < port < 65536:
            fail(f"invalid --port {port}: use 1-65535")
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
        typer.echo(f"conversion webhook on https://{host}:{port}/convert")
        try:
            asyncio.run(serve(host, port, str(tls_cert), str(tls_key)))
        except KeyboardInterrupt:
            pass
