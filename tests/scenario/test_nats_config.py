"""NATS users and passwords of a deployment: generated, kept, written owner-only; ``ripple
nats-config`` writes a configuration nats-server accepts and the files docker-compose.yml
names."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

from services.cli import app
from services.scenario.credentials import (
    NatsCredentials,
    service_env,
    url_with,
    url_without_credentials,
)
from services.scenario.model import Fleet
from services.tools.natsconfig import write_config
from shared.bus.embedded import find_binary
from shared.contract import permissions as p
from shared.contract.subjects import ClusterRef
from tests.paths import REPO

A = ClusterRef(namespace="default", name="cluster-a")
B = ClusterRef(namespace="prod", name="eu-1", type="capi")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_keeps_known_passwords_and_gives_each_agent_its_permissions() -> None:
    creds = NatsCredentials.generate([A, B, A])
    assert [c.user for c in creds.users] == [
        "admin",
        "manager",
        "reporter",
        "agent-default.sveltos--cluster-a",
        "agent-prod.capi--eu-1",
    ]
    assert len({c.password for c in creds.users}) == 5
    assert creds.agent(B).permissions() == p.agent_permissions(B)
    assert creds.reporter.permissions() == p.reporter_permissions()
    again = NatsCredentials.generate([A], keep=creds)
    assert again.agent(A) == creds.agent(A) and again.manager == creds.manager
    assert [c.user for c in again.users][-1] == p.agent_user(A)
    assert NatsCredentials.from_json(json.loads(json.dumps(creds.to_json()))) == creds


def test_urls_and_environment_carry_the_right_credentials(tmp_path: Path) -> None:
    assert url_with("nats://h:4222", "u@x", "p:w/") == "nats://u%40x:p%3Aw%2F@h:4222"
    assert url_without_credentials("nats://u:p@h:4222") == "nats://h:4222"
    creds = NatsCredentials.generate([A])
    fleet = Fleet.model_validate({"clusters": [{"name": "cluster-a"}]})
    env = service_env(creds, fleet, "nats://admin:x@127.0.0.1:1")
    assert set(env) == {"manager", "reporter", "agent-default-cluster-a"}
    assert env["agent-default-cluster-a"] == {
        "RIPPLE_NATS_URL": "nats://127.0.0.1:1",
        "RIPPLE_NATS_USER": p.agent_user(A),
        "RIPPLE_NATS_PASSWORD": creds.agent(A).password,
    }
    assert service_env(None, fleet, "nats://127.0.0.1:1") == {}
    path = creds.write(tmp_path / "c" / "credentials.json", "nats://127.0.0.1:1")
    assert _mode(path) == 0o600
    data = json.loads(path.read_text())
    assert data["admin_url"] == f"nats://admin:{creds.admin.password}@127.0.0.1:1"
    assert NatsCredentials.read(path) == creds


def test_nats_config_writes_a_valid_server_configuration(tmp_path: Path) -> None:
    out = tmp_path / "nats-auth"
    result = CliRunner().invoke(
        app, ["nats-config", str(out), "--cluster", "default/cluster-a", "-c", "capi:prod/eu-1"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"5 users; nats-server -c {out / 'nats.conf'}"
    assert all(_mode(f) == 0o600 for f in out.iterdir())
    check = subprocess.run(
        [find_binary(), "-c", str(out / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    conf = (out / "nats.conf").read_text()
    assert conf.count("    jetstream: enabled") == 1  # the shared account holds the streams
    for account in (p.RIPPLE_ACCOUNT, p.REPORTER_ACCOUNT, p.agent_account(A), p.agent_account(B)):
        assert f'  "{account}": {{' in conf, account
    creds = NatsCredentials.read(out / "credentials.json")
    assert (out / "agent-prod-eu-1.env").read_text() == (
        f"RIPPLE_NATS_USER=agent-prod.capi--eu-1\nRIPPLE_NATS_PASSWORD={creds.agent(B).password}\n"
    )
    secret = yaml.safe_load((out / "manager.secret.yaml").read_text())
    assert secret["metadata"]["name"] == "ripple-nats-manager"
    assert secret["stringData"] == {"user": "manager", "password": creds.manager.password}
    rerun = CliRunner().invoke(app, ["nats-config", str(out), "-c", "default/cluster-a"])
    assert rerun.exit_code == 0, rerun.output
    assert NatsCredentials.read(out / "credentials.json").manager == creds.manager
    rotated = CliRunner().invoke(app, ["nats-config", str(out), "-c", "x/y", "--rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert NatsCredentials.read(out / "credentials.json").manager != creds.manager
    bad = CliRunner().invoke(app, ["nats-config", str(out), "-c", "nope"])
    assert bad.exit_code != 0


def test_docker_compose_names_the_files_nats_config_writes(tmp_path: Path) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    clusters = [
        f"{s['environment'].get('RIPPLE_CLUSTER_TYPE', 'sveltos')}:"
        f"{s['environment']['RIPPLE_CLUSTER']}"
        for s in services.values()
        if "RIPPLE_CLUSTER" in s.get("environment", {})
    ]
    assert clusters
    write_config(tmp_path / "nats-auth", clusters)
    assert services["nats"]["command"] == ["-c", "/etc/nats-auth/nats.conf"]
    assert "./nats-auth:/etc/nats-auth:ro" in services["nats"]["volumes"]
    for name, service in services.items():
        if name == "nats":
            continue
        assert "RIPPLE_NATS_PASSWORD" not in service.get("environment", {})
        for env_file in service["env_file"]:
            assert (tmp_path / env_file).is_file(), f"{name}: {env_file}"
