"""A self-signed certificate per fleet: kubectl (client-go) only sends bearer tokens over TLS.

The certificate names ``IP:127.0.0.1`` and ``DNS:localhost``, and every address the fleet is
advertised at (``ripple fleet serve --advertise HOST``: an IP address or a DNS name, e.g.
``host.docker.internal`` for containers reaching a fleet on their host). It is also the CA
written into every kubeconfig (``certificate-authority-data``), so clients verify it without
warnings. A certificate already in the directory is reused while it names every address
wanted; otherwise it is replaced (the kubeconfigs, written at each start, carry the new one).
"""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from services.fleet.errors import FleetConfigError, FleetError

CERT = "fleet-tls.crt"
KEY = "fleet-tls.key"
#: always named: the loopback clients of the fleet's own host
LOOPBACK = ("127.0.0.1", "localhost")


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _valid_dns(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    )


def normalize(raw: str) -> str:
    """An address clients connect to, normalized (an IP address or a lower-case DNS name).
    Raises :class:`FleetConfigError` for anything else, and for a wildcard address
    (``0.0.0.0`` is where a fleet listens, never what a client connects to)."""
    name = raw.strip().strip("[]")
    if is_ip(name):
        address = ipaddress.ip_address(name)
        if address.is_unspecified:
            raise FleetConfigError(
                f"{raw!r} is a wildcard address: advertise the address or name clients "
                "connect to (e.g. --advertise host.docker.internal)"
            )
        return str(address)
    if not _valid_dns(name):
        raise FleetConfigError(f"{raw!r} is neither an IP address nor a DNS name")
    return name.lower().rstrip(".")


def subject_names(extra: Iterable[str] = ()) -> list[str]:
    """The names the certificate must carry: loopback plus ``extra`` (normalized,
    deduplicated, in order; see :func:`normalize` for what is refused)."""
    names: list[str] = list(LOOPBACK)
    for raw in extra:
        if raw.strip():
            name = normalize(raw)
            if name not in names:
                names.append(name)
    return names


def _san_text(names: Sequence[str]) -> str:
    return ",".join(f"IP:{n}" if is_ip(n) else f"DNS:{n}" for n in names)


def certificate_names(cert: Path) -> set[str] | None:
    """The subject alternative names of a PEM certificate (None when unreadable)."""
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography is a dependency
        return None
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return ips | {d.lower() for d in san.get_values_for_type(x509.DNSName)}


def ensure_certificate(directory: Path, names: Iterable[str] = ()) -> tuple[Path, Path]:
    """Create ``DIR/fleet-tls.crt`` and ``DIR/fleet-tls.key`` naming loopback and ``names``
    (kept while they name all of them); returns their paths."""
    wanted = subject_names(names)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / CERT, directory / KEY
    if cert.exists() and key.exists():
        present = certificate_names(cert)
        if present is not None and set(wanted) <= present:
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
        f"subjectAltName={_san_text(wanted)}",
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        try:
            _with_cryptography(cert, key, wanted)
        except ImportError:
            raise FleetError(
                f"cannot create the fleet's TLS certificate: openssl failed ({exc}) and the "
                "'cryptography' package is not installed"
            ) from exc
    key.chmod(0o600)
    return cert, key


def _with_cryptography(cert: Path, key: Path, names: Sequence[str] = LOOPBACK) -> None:
    """The same certificate with the ``cryptography`` package (when openssl is missing)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ripple-fleet")])
    now = dt.datetime.now(dt.UTC)
    alternatives: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if is_ip(n) else x509.DNSName(n) for n in names
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
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
