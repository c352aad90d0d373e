"""A kubeconfig that cannot be read is one clear error naming the file (a service exits with
one line, no traceback), never an exception from inside the client."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from shared.errors import InvalidInput
from shared.kube import KubeClient
from shared.kube.client import GVK
from shared.kube.errors import KubeConfigInvalid
from tests.kube.conftest import Target

CONFIG_MAP = GVK("v1", "ConfigMap")


@pytest.mark.parametrize("content", [None, "", "not: [a kubeconfig"])
def test_an_unreadable_kubeconfig_names_the_file(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "kc.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KubeConfigInvalid, match=f"cannot read the kubeconfig {path}") as info:
        KubeClient(str(path))
    assert isinstance(info.value, InvalidInput)


def test_a_service_given_a_missing_kubeconfig_exits_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.kubeconfig"
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "reporter", "--kubeconfig", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert f"cannot read the kubeconfig {missing}" in out.stderr
    assert "Traceback" not in out.stderr


EXEC_PLUGIN = """
import datetime, json, sys
with open(sys.argv[1], "a") as runs:
    runs.write("run\\n")
# expires in 5 minutes: due for renewal at once (the client renews 5 minutes early)
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=300)
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "kind": "ExecCredential",
    "status": {"token": sys.argv[2], "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")},
}))
"""


def test_credentials_are_refreshed_at_most_once_per_interval(
    target: Target, tmp_path: Path
) -> None:
    """The official client re-reads a kubeconfig's credentials before every request; the
    adapter lets it look once per ``refresh_interval``: an exec plugin's token is not fetched
    per request, and a token about to expire is still renewed."""
    config = yaml.safe_load(target.kubeconfig.read_text())
    token = config["users"][0]["user"]["token"]
    plugin, runs = tmp_path / "plugin.py", tmp_path / "runs"
    plugin.write_text(EXEC_PLUGIN)
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin), str(runs), token],
            "interactiveMode": "Never",
        }
    }
    path = tmp_path / "exec.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    interval = 2.0
    client = KubeClient(str(path), refresh_interval=interval)
    target.clients.append(client)
    started = time.monotonic()
    for index in range(30):
        client.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{index}"}})
    fetched = len(runs.read_text().splitlines())
    if time.monotonic() - started < interval:  # a slow machine may have crossed it once
        assert fetched == 1, "the token was fetched once, not per request"
    time.sleep(interval)  # the token is due for renewal (it expires within 5 minutes)
    assert client.get(CONFIG_MAP, "default", "c0") is not None
    assert len(runs.read_text().splitlines()) > fetched, "renewed once the interval passed"
