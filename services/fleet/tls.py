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
        try:
            _with_cryptography(cert, key)
        except ImportError:
            raise FleetError(
                f"cannot create the fleet's TLS certificate: openssl failed ({exc}) and the "
                "'cryptography' package is not installed"
            ) from exc
    key.chmod(0o600)
    return cert, key


def _with_cryptography(cert: Path, key: Path) -> None:
    """The same certificate with the ``cryptography`` package (when openssl is missing)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ripple-fleet")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))
