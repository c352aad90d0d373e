"""A self-signed certificate per fleet: kubectl (client-go) only sends bearer tokens over TLS.

The certificate (SAN ``IP:127.0.0.1``, ``DNS:localhost``) is also the CA written into every
kubeconfig (``certificate-authority-data``), so clients verify it without warnings.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from services.fleet.errors import FleetError

CERT = "fleet-tls.crt"
KEY = "fleet-tls.key"


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """Create (once) ``DIR/fleet-tls.crt`` and ``DIR/fleet-tls.key``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / CERT, directory / KEY
    if cert.exists() and key.exists():
        return cert, key
    cmd = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        "3650",
        "-subj",
        "/CN=ripple-fleet",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise FleetError(f"cannot create the fleet's TLS certificate with openssl: {exc}") from exc
    key.chmod(0o600)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))
