"""``ripple scenario`` end to end on tiny scenarios that need no service (--no-services)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from services.cli import app


def _scenario(root: Path, value: str) -> Path:
    folder = root / "tiny"
    for sub in ("cluster", "expect"):
        (folder / sub).mkdir(parents=True)
    (folder / "fleet.yaml").write_text(
        "clusters:\n- {namespace: default, name: solo, type: sveltos, labels: {env: fv}}\n"
    )
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cm",
            "namespace": "default",
            "annotations": {"projectsveltos.io/hash": "sha256:x"},
        },
        "data": {"k": "v"},
    }
    (folder / "cluster" / "cm.yaml").write_text(yaml.safe_dump(cm))
    expected = {**cm, "data": {"k": value}}
    del expected["metadata"]["annotations"]
    (folder / "expect" / "cm.yaml").write_text(yaml.safe_dump(expected))
    (folder / "steps.yaml").write_text(
        "steps:\n"
        "- apply: {cluster: default/solo, file: cluster/cm.yaml}\n"
        "- expect: {cluster: default/solo, present: [expect/cm.yaml]}\n"
    )
    return folder


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["scenario", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("value", ["v"])
def test_passing_scenario(tmp_path: Path, value: str) -> None:
    folder = _scenario(tmp_path, value)
    code, out = _run(
        str(folder),
        "--no-services",
        "--state-dir",
        str(tmp_path / "state"),
        "--report",
        str(tmp_path / "report.json"),
    )
    assert code == 0, out
    assert out.splitlines()[-1] == "2 passed, 0 failed"
    assert "✔   2 expect in default/solo: present cm.yaml — held after" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scenarios"][0]["name"] == "tiny"
    assert report["expect_latency"]["count"] == 1


def test_failing_scenario_shows_the_diff_and_logs(tmp_path: Path) -> None:
    folder = _scenario(tmp_path, "other")
    code, out = _run(
        str(folder),
        "--no-services",
        "--timeout",
        "0.2",
        "--log-lines",
        "3",
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert code == 1
    assert "last 3 lines of" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed"
    assert 'data.k: expected "other", got "v"' in out
    assert "fleet.log" in out
    assert "logs in" in out


def test_invalid_scenario_counts_as_a_failure(tmp_path: Path) -> None:
    folder = _scenario(tmp_path, "v")
    (folder / "steps.yaml").write_text("steps:\n- wait: 3\n")
    code, out = _run(str(folder), "--no-services", "--state-dir", str(tmp_path / "state"))
    assert code == 1
    assert "step 1: unknown step 'wait'" in out
    assert out.splitlines()[-1] == "0 passed, 1 failed"


def test_a_stack_that_does_not_come_up_fails_every_step(tmp_path: Path) -> None:
    folder = _scenario(tmp_path, "v")
    (folder / "crds").mkdir()
    (folder / "crds" / "bad.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: bad}\nspec: {}\n"
    )
    code, out = _run(str(folder), "--no-services", "--state-dir", str(tmp_path / "state"))
    assert code == 1
    assert "✘ the stack did not come up: " in out
    assert "crds/bad.yaml: apply CustomResourceDefinition/bad: 422" in out
    assert "fleet.log" in out
    assert out.splitlines()[-1] == "0 passed, 2 failed"
