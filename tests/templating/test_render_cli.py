"""``ripple render``: templates, ConfigMaps, data options, errors, --cases."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from services.cli import app
from tests.paths import CORPUS, SCENARIOS

S01 = SCENARIOS / "01-network-policy-per-service"


def test_render_configmap_with_resource() -> None:
    result = CliRunner().invoke(
        app,
        [
            "render",
            str(S01 / "management" / "configmap-network-policy.yaml"),
            "--resource",
            str(S01 / "cluster" / "my-service.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    obj = yaml.safe_load(result.output)
    assert obj["metadata"]["name"] == "front-my-service"
    assert obj["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "MyApp"}


def test_render_template_file_with_set_and_cluster(tmp_path: Path) -> None:
    tpl = tmp_path / "t.yaml"
    tpl.write_text("{{ .Cluster.metadata.name }}:{{ .Extra.x }}:{{ .MatchingResource.Name }}")
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text("metadata: {name: c1}\n")
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"x": 1}))
    result = CliRunner().invoke(
        app,
        [
            "render",
            str(tpl),
            "--cluster",
            str(cluster),
            "--set",
            f"Extra={extra}",
            "--resource",
            str(S01 / "cluster" / "my-service.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == "c1:1:my-service\n"


def test_render_jinja_flavour(tmp_path: Path) -> None:
    tpl = tmp_path / "t.j2"
    tpl.write_text("{{ Resource.metadata.name | upper }}")
    result = CliRunner().invoke(
        app,
        [
            "render",
            str(tpl),
            "--flavour",
            "jinja",
            "--resource",
            str(S01 / "cluster" / "my-service.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == "MY-SERVICE\n"


def test_render_error_exits_1(tmp_path: Path) -> None:
    tpl = tmp_path / "t.yaml"
    tpl.write_text("{{ .Resource.nope }}")
    result = CliRunner().invoke(
        app, ["render", str(tpl), "--resource", str(S01 / "cluster" / "my-service.yaml")]
    )
    assert result.exit_code == 1
    assert 'map has no entry for key "nope"' in result.output


def test_render_cases_tally(tmp_path: Path) -> None:
    cases = tmp_path / "cases.json"
    cases.write_text(
        json.dumps(
            {
                "cases": [
                    {
                        "name": "ok",
                        "template": "{{.a}}",
                        "data": {"a": 1},
                        "options": {"funcs": "builtin"},
                        "expected": "1",
                    },
                    {
                        "name": "err",
                        "template": "{{",
                        "data": None,
                        "options": {"funcs": "builtin"},
                        "expected_error": "x",
                    },
                    {
                        "name": "bad",
                        "template": "{{.a}}",
                        "data": {"a": 2},
                        "options": {"funcs": "builtin"},
                        "expected": "1",
                    },
                ]
            }
        )
    )
    result = CliRunner().invoke(app, ["render", "--cases", str(cases)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "PASS ok"
    assert lines[1] == "PASS err"
    assert lines[2].startswith("FAIL bad: got '2', want '1'")
    assert lines[-1] == "2 passed, 1 failed"
    quiet = CliRunner().invoke(app, ["render", "--cases", str(cases), "--quiet"])
    assert [ln for ln in quiet.output.splitlines() if ln.startswith(("PASS", "FAIL"))] == [lines[2]]


def test_render_builtin_corpus_cases(tmp_path: Path) -> None:
    doc = json.loads((CORPUS / "go-templates.json").read_text())
    doc["cases"] = [c for c in doc["cases"] if c["options"]["funcs"] == "builtin"]
    cases = tmp_path / "builtin.json"
    cases.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["render", "--cases", str(cases), "--quiet"])
    assert result.output.splitlines()[-1] == "584 passed, 0 failed"
    assert result.exit_code == 0


def test_render_secret_key_by_key_with_flavour_annotation(tmp_path: Path) -> None:
    import base64

    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "namespace": "default",
            "annotations": {"ripple.io/template-flavour": "jinja"},
        },
        "data": {"a.yaml": base64.b64encode(b"name: {{ Resource.metadata.name }}").decode()},
        "stringData": {"b.yaml": "ns: {{ Resource.metadata.namespace }}"},
    }
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump(secret))
    result = CliRunner().invoke(
        app, ["render", str(path), "--resource", str(S01 / "cluster" / "my-service.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert result.output == "--- # a.yaml\nname: my-service\n--- # b.yaml\nns: default\n"


def test_render_without_template_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["render"])
    assert result.exit_code == 2
