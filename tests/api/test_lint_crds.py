"""``ripple lint`` (exit codes, tally line, messages) and the CRD files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from services.tools import lint
from shared.api.crds import (
    CRD_FILES,
    Webhook,
    crd_documents,
    crd_for,
    crd_texts,
    load_text,
    write_chart_crds,
)
from tests.paths import REPO, SCENARIOS

GOOD = """\
apiVersion: lib.projectsveltos.io/v1beta1
kind: EventSource
metadata:
  name: good
spec:
  resourceSelectors:
  - version: v1
    kind: Service
"""
BAD = GOOD.replace(
    "kind: Service", "kind: Service\n    labelFilters:\n    - {key: a, operation: Like}"
)


def app() -> typer.Typer:
    application = typer.Typer()
    lint.register(application)

    @application.callback()
    def _root() -> None:
        """test root (keeps 'lint' a sub-command)"""

    return application


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app(), ["lint", *args])
    return result.exit_code, result.output


def test_all_scenario_management_files_pass() -> None:
    folders = sorted(str(p) for p in SCENARIOS.glob("*/management"))
    code, out = run(*folders)
    lines = out.strip().splitlines()
    n = len(list(SCENARIOS.glob("*/management/*.yaml")))
    assert lines == [f"{n} passed, 0 failed"]
    assert code == 0


def test_verbose_prints_ok_lines(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    code, out = run("--verbose", str(tmp_path))
    assert code == 0
    assert out.splitlines() == [
        f"ok {tmp_path / 'a.yaml'} (EventSource/good)",
        "1 passed, 0 failed",
    ]


def test_failures_one_line_per_problem_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "sub" / "bad.yaml").write_text(BAD)
    (tmp_path / "sub" / "broken.json").write_text("{")
    (tmp_path / "notes.txt").write_text("ignored")
    code, out = run(str(tmp_path))
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[-1] == "1 passed, 2 failed"
    bad = [line for line in lines if "bad.yaml" in line]
    assert bad == [
        f"{tmp_path / 'sub' / 'bad.yaml'}:10:16: EventSource/good (document 1): "
        "spec.resourceSelectors[0].labelFilters[0].operation: must be 'Equal', 'Different', "
        "'Has' or 'DoesNotHave', got 'Like'"
    ]
    assert any("broken.json" in line and "invalid JSON" in line for line in lines)


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    flattened = "apiVersion: v1\nkind: ConfigMap\nmetadata:\nname: x\n"
    (tmp_path / "f.yaml").write_text(flattened)
    code, out = run(str(tmp_path / "f.yaml"))
    assert code == 0 and "warning" in out and out.strip().endswith("1 passed, 0 failed")
    code, out = run("--strict", str(tmp_path / "f.yaml"))
    assert code == 1 and out.strip().endswith("0 passed, 1 failed")


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    code, out = run(str(tmp_path / "nope"))
    assert code == 2
    assert "no such file or directory" in out and "nope" in out


def test_folder_without_definitions(tmp_path: Path) -> None:
    code, out = run(str(tmp_path))
    assert code == 2 and "no *.yaml" in out


def test_ripple_entry_point() -> None:
    ripple = Path(sys.executable).parent / "ripple"
    folders = sorted(str(p) for p in SCENARIOS.glob("*/management"))
    proc = subprocess.run(
        [str(ripple), "lint", *folders], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].endswith("passed, 0 failed")


def test_a_trigger_without_event_source_name_is_refused(tmp_path: Path) -> None:
    """Sveltos' CRD requires spec.eventSourceName (issue 15 item 9): lint names the field."""
    (tmp_path / "t.yaml").write_text(
        "apiVersion: lib.projectsveltos.io/v1beta1\nkind: EventTrigger\nmetadata:\n"
        "  name: t\nspec:\n  sourceClusterSelector: {matchLabels: {env: fv}}\n"
    )
    (tmp_path / "a.yaml").write_text(
        "apiVersion: lib.projectsveltos.io/v1alpha1\nkind: EventBasedAddOn\nmetadata:\n"
        "  name: a\nspec:\n  sourceClusterSelector: env=fv\n  eventSourceName: ''\n"
    )
    code, out = run(str(tmp_path))
    assert code == 1
    lines = out.strip().splitlines()
    assert f"{tmp_path / 't.yaml'}:5:1: EventTrigger/t (document 1): spec.eventSourceName: " in (
        out
    )
    assert "required field is missing" in out
    assert any("a.yaml" in line and "spec.eventSourceName" in line for line in lines)
    assert lines[-1] == "0 passed, 2 failed"


def test_crd_documents() -> None:
    docs = crd_documents()
    assert len(docs) == len(CRD_FILES) == 6
    by_kind = {d["spec"]["names"]["kind"]: d for d in docs}
    # without the conversion webhook: the kinds whose versions differ serve their storage
    # version only, but EventSource (v1alpha1 accepted, both versions one schema)
    expected = {
        "EventSource": ("lib.projectsveltos.io", "Cluster", ["v1alpha1", "v1beta1"]),
        "EventBasedAddOn": ("lib.projectsveltos.io", "Cluster", ["v1alpha1"]),
        "EventTrigger": ("lib.projectsveltos.io", "Cluster", ["v1beta1"]),
        "EventReport": ("lib.projectsveltos.io", "Namespaced", ["v1alpha1", "v1beta1"]),
        "SveltosCluster": ("lib.projectsveltos.io", "Namespaced", ["v1alpha1", "v1beta1"]),
        "ClusterProfile": ("config.projectsveltos.io", "Cluster", ["v1beta1"]),
    }
    assert set(by_kind) == set(expected)
    for kind, (group, scope, versions) in expected.items():
        crd = by_kind[kind]
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{group}"
        assert crd["spec"]["group"] == group and crd["spec"]["scope"] == scope
        assert "conversion" not in crd["spec"]
        assert [v["name"] for v in crd["spec"]["versions"]] == versions
        assert [v["storage"] for v in crd["spec"]["versions"]] == [
            v == versions[-1] for v in versions
        ]
        for v in crd["spec"]["versions"]:
            assert v["served"] is True
            assert v["schema"]["openAPIV3Schema"]["type"] == "object"
            assert set(v["schema"]["openAPIV3Schema"]["properties"]) >= {"spec", "metadata"}
            assert v["subresources"] == {"status": {}}
    eventsource = by_kind["EventSource"]["spec"]["versions"]
    assert eventsource[0]["schema"] == eventsource[1]["schema"]
    assert crd_for("EventTrigger")["spec"]["names"]["plural"] == "eventtriggers"


def test_crd_documents_with_the_webhook() -> None:
    hook = Webhook(url="https://127.0.0.1:9443/convert", ca_bundle="Q0E=")
    by_kind = {d["spec"]["names"]["kind"]: d for d in crd_documents(hook)}
    for kind in ("EventSource", "EventTrigger", "ClusterProfile"):
        spec = by_kind[kind]["spec"]
        assert [v["name"] for v in spec["versions"]] == ["v1alpha1", "v1beta1"]
        assert spec["conversion"] == {
            "strategy": "Webhook",
            "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"url": "https://127.0.0.1:9443/convert", "caBundle": "Q0E="},
            },
        }
    for kind in ("EventReport", "SveltosCluster", "EventBasedAddOn"):
        assert "conversion" not in by_kind[kind]["spec"]  # one schema: None, as Sveltos


def test_chart_crds_are_the_generated_copy(tmp_path: Path) -> None:
    chart = REPO / "charts" / "ripple" / "crds"
    assert sorted(p.name for p in chart.glob("*.yaml")) == sorted(CRD_FILES), (
        "charts/ripple/crds is stale: run make crds"
    )
    written = write_chart_crds(tmp_path)
    for path in written:
        assert (chart / path.name).read_text() == path.read_text(), (
            f"charts/ripple/crds/{path.name} is stale: run make crds"
        )
    docs = [load_text(p.read_text()) for p in written]
    assert docs == crd_documents()
    # the package's files are the full form (conversion through the chart's Service)
    for name, text in crd_texts().items():
        spec = load_text(text)["spec"]
        if name in ("eventsources.yaml", "eventtriggers.yaml", "clusterprofiles.yaml"):
            assert spec["conversion"]["webhook"]["clientConfig"]["service"] == {
                "namespace": "projectsveltos",
                "name": "ripple-conversion-webhook",
                "path": "/convert",
                "port": 443,
            }
