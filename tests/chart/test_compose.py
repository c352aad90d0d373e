"""docker-compose.yml and the Dockerfile, as far as they can be checked without a Docker
engine: every Ripple service's command line is a valid `ripple` command, its environment
builds its settings, `ripple nats-config` writes the env files it names, and the documented
try-out (docs/deploy.md) gives the kubeconfigs it mounts, naming the address the containers
reach the fleet on (host.docker.internal, in the fleet's certificate)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from services.cli import app
from services.fleet import load_fleet_yaml, start_fleet_thread, tls
from services.fleet.runner import LOCAL_DIR
from tests.chart.settings_env import SETTINGS, build, known_variables
from tests.paths import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
RIPPLE = {n: s for n, s in COMPOSE["services"].items() if s.get("build")}
KUBECTL = REPO / ".venv" / "bin" / "kubectl"


def kind(service: dict[str, Any]) -> str:
    return str(service["command"][0])


def test_the_compose_file_runs_every_service() -> None:
    assert sorted(kind(s) for s in RIPPLE.values()) == ["agent", "manager", "reporter"]
    assert COMPOSE["services"]["nats"]["image"].startswith("nats:")


@pytest.mark.parametrize("name", sorted(RIPPLE))
def test_each_command_line_is_a_valid_ripple_command(name: str) -> None:
    command = RIPPLE[name]["command"]
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    flags = [a for a in command if a.startswith("--")]
    for flag in flags:
        assert flag in result.output, flag


@pytest.mark.parametrize("name", sorted(RIPPLE))
def test_each_environment_builds_the_service_settings(name: str) -> None:
    service = RIPPLE[name]
    env = {k: str(v) for k, v in service["environment"].items()}
    cls = SETTINGS[kind(service)]
    unknown = {k for k in env if k.startswith("RIPPLE_")} - known_variables(cls)
    assert not unknown, f"{name}: {unknown} are not settings of ripple {kind(service)}"
    settings = build(cls, {**env, "RIPPLE_NATS_USER": "u", "RIPPLE_NATS_PASSWORD": "p"})
    assert settings.metrics_port == 9090 and settings.metrics_host == "0.0.0.0"
    assert "9090/readyz" in " ".join(service["healthcheck"]["test"])  # the metrics port


def test_nats_config_writes_the_env_files_compose_reads(tmp_path: Path) -> None:
    auth = tmp_path / "nats-auth"
    result = CliRunner().invoke(app, ["nats-config", str(auth), "--cluster", "default/cluster-a"])
    assert result.exit_code == 0, result.output
    assert (auth / "nats.conf").exists()
    for name, service in RIPPLE.items():
        [env_file] = service["env_file"]
        path = tmp_path / env_file
        assert path.exists(), f"{name}: {env_file} not written by ripple nats-config"
        variables = dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)
        assert {"RIPPLE_NATS_USER", "RIPPLE_NATS_PASSWORD"} <= set(variables), name


def test_the_documented_fleet_gives_what_compose_mounts(tmp_path: Path) -> None:
    """`ripple fleet serve --config examples/story/fleet.yaml --dir kube --host 0.0.0.0
    --advertise host.docker.internal`: the kubeconfigs the containers read name the
    advertised address, the certificate names it, and kubectl on the host uses
    kube/local/ to install the CRDs and register the cluster."""
    kube = tmp_path / "kube"
    clusters = load_fleet_yaml(REPO / "examples" / "story" / "fleet.yaml")
    name = "host.docker.internal"
    with start_fleet_thread(clusters, kube, host="0.0.0.0", advertise=name) as fleet:
        for service_name, service in RIPPLE.items():
            assert f"{name}:host-gateway" in service["extra_hosts"], service_name
            assert "./kube:/kube:ro" in service["volumes"], service_name
            mounted = Path(service["environment"]["KUBECONFIG"])
            assert mounted.parent == Path("/kube"), service_name
            doc = yaml.safe_load((kube / mounted.name).read_text())
            server = doc["clusters"][0]["cluster"]["server"]
            assert server.startswith(f"https://{name}:"), (service_name, server)
        assert name in (tls.certificate_names(fleet.ca_file or Path()) or set())
        env = {**os.environ, "KUBECONFIG": str(kube / LOCAL_DIR / "management.kubeconfig")}
        documented_kubectl_steps(env)


REGISTRATION = """apiVersion: lib.projectsveltos.io/v1beta1
kind: SveltosCluster
metadata: {name: cluster-a, namespace: default, labels: {env: fv}}
spec: {}
"""


def documented_kubectl_steps(env: dict[str, str]) -> None:
    """docs/deploy.md's step 3, as written there, against the fleet through kube/local/."""
    story = REPO / "examples" / "story"
    steps: list[tuple[list[str], str | None]] = [
        (["apply", "-f", str(REPO / "charts" / "ripple" / "crds")], None),
        (["wait", "--for=condition=Established", "crd", "--all", "--timeout=20s"], None),
        (["apply", "-f", "-"], REGISTRATION),
        (
            [
                "patch",
                "sveltoscluster",
                "cluster-a",
                "-n",
                "default",
                "--subresource=status",
                "--type=merge",
                "-p",
                '{"status": {"ready": true}}',
            ],
            None,
        ),
        (["apply", "-f", str(story / "management" / "network-policy-per-service.yaml")], None),
        (
            [
                "get",
                "sveltoscluster",
                "cluster-a",
                "-n",
                "default",
                "-o",
                "jsonpath={.status.ready}",
            ],
            None,
        ),
    ]
    docs = (REPO / "docs" / "deploy.md").read_text()
    assert "examples/story/management/network-policy-per-service.yaml" in docs
    assert (story / "cluster" / "my-service.yaml").exists()
    out = ""
    for args, stdin in steps:
        proc = subprocess.run(
            [str(KUBECTL), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, (args, proc.stderr)
        out = proc.stdout
    assert out == "true"


def test_the_image_runs_as_a_non_root_user_with_a_home() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    [user] = [line.split()[1] for line in lines if line.startswith("USER ")]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit()  # numeric: runAsNonRoot checks it
    text = "\n".join(lines)
    assert f"--uid {uid}" in text and "--create-home --home-dir /home/ripple" in text
    assert "HOME=/home/ripple" in text
    assert 'ENTRYPOINT ["ripple"]' in text
    for service in RIPPLE.values():
        assert service["user"] == f"{uid}:{gid}" and service["read_only"] is True
        assert any(t.startswith("/home/ripple") for t in service["tmpfs"])  # a writable home
    chart = yaml.safe_load((REPO / "charts" / "ripple" / "values.yaml").read_text())
    assert chart["podSecurityContext"]["runAsUser"] == int(uid)
