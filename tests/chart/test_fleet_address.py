"""The fleet on another address (docker-compose's try-out: containers reach a fleet on their
host): ``--host`` is where it listens, ``--advertise`` the address or name its kubeconfigs
give and its certificate names; the official client connects through that name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import urllib3
import yaml
from kubernetes import client, config

from services.fleet import start_fleet_thread, tls
from services.fleet.errors import FleetConfigError
from services.fleet.runner import LOCAL_DIR, FleetServer


def namespaces(kubeconfig: Path, **cluster: str) -> list[str]:
    """Namespaces listed by the official client with ``kubeconfig`` (its cluster entry
    amended with ``cluster``, e.g. ``tls-server-name``)."""
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"].update(cluster)
    api = config.new_client_from_config_dict(doc)
    try:
        return [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
    finally:
        api.close()


def server_of(kubeconfig: Path) -> str:
    return str(yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"])


def test_a_fleet_on_every_interface_advertised_at_an_ip(tmp_path: Path) -> None:
    with start_fleet_thread(["a"], tmp_path, host="0.0.0.0", advertise="127.0.0.2") as fleet:
        assert fleet.base_url.startswith("https://127.0.0.2:")
        kubeconfig = fleet.kubeconfig("a")
        assert server_of(kubeconfig) == f"{fleet.base_url}/clusters/a"
        assert "default" in namespaces(kubeconfig)  # verified: the certificate names the IP
        local = tmp_path / LOCAL_DIR / "a.kubeconfig"  # for the host's own tools
        assert server_of(local).startswith("https://127.0.0.1:")
        assert "default" in namespaces(local)
    assert "127.0.0.2" in (tls.certificate_names(tmp_path / tls.CERT) or set())


def test_the_certificate_names_the_advertised_dns_name(tmp_path: Path) -> None:
    """Through a DNS name (``host.docker.internal`` in docker-compose): here the name is sent
    as TLS server name to the loopback address, so no resolver is needed."""
    name = "fleet.ripple.test"
    with start_fleet_thread(["a"], tmp_path, host="0.0.0.0", advertise=name) as fleet:
        kubeconfig = fleet.kubeconfig("a")
        assert server_of(kubeconfig).startswith(f"https://{name}:")
        loopback = f"https://127.0.0.1:{fleet.base_url.rsplit(':', 1)[1]}/clusters/a"
        assert "default" in namespaces(kubeconfig, server=loopback, **{"tls-server-name": name})
        with pytest.raises(urllib3.exceptions.MaxRetryError) as err:  # a name it lacks
            namespaces(kubeconfig, server=loopback, **{"tls-server-name": "other.ripple.test"})
        assert "certificate" in str(err.value).lower()
    assert {name, "127.0.0.1", "localhost"} <= (tls.certificate_names(tmp_path / tls.CERT) or set())


def test_a_certificate_lacking_the_address_is_replaced(tmp_path: Path) -> None:
    cert, _ = tls.ensure_certificate(tmp_path)
    assert tls.certificate_names(cert) == {"127.0.0.1", "localhost"}
    first = cert.read_bytes()
    assert tls.ensure_certificate(tmp_path)[0].read_bytes() == first  # kept while it fits
    tls.ensure_certificate(tmp_path, ["10.1.2.3", "Host.Docker.Internal."])
    assert tls.certificate_names(cert) == {
        "127.0.0.1",
        "localhost",
        "10.1.2.3",
        "host.docker.internal",
    }
    tls._with_cryptography(cert, tmp_path / tls.KEY, ["127.0.0.1", "::1", "a.test"])
    assert tls.certificate_names(cert) == {"127.0.0.1", "::1", "a.test"}


@pytest.mark.parametrize("bad", ["0.0.0.0", "::", "not a name", "-x.test", "a..b"])
def test_an_unusable_advertised_address_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(FleetConfigError) as err:
        FleetServer(["a"], tmp_path, host="0.0.0.0", advertise=bad)
    assert repr(bad) in str(err.value)


def test_the_cli_refuses_a_wildcard_advertised_address(tmp_path: Path) -> None:
    args = ["fleet", "serve", "--dir", str(tmp_path), "--host", "0.0.0.0", "--advertise", "0.0.0.0"]
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "wildcard address" in proc.stderr
    assert "Traceback" not in proc.stderr
