"""A scenario's ``charts/`` folder: its entries (directories, archives, links), the
placeholders of management definitions, and the chart server of a stack (a loopback
repository that Helm's own index lists)."""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scenario.charts import (
    CHARTS_OCI_URL,
    CHARTS_URL,
    StackCharts,
    chart_entries,
    placeholders_in,
    substitute,
)
from services.scenario.errors import ScenarioError, StackError
from shared.helm.repository import ChartRepository
from tests.paths import REPO

KYVERNO_LITE = REPO / "examples" / "charts" / "kyverno-lite"
STORY_CHARTS = REPO / "examples" / "story" / "charts"
HELLO = REPO / "tests" / "helm" / "charts" / "hello"


def _chart(path: Path, name: str = "hello", version: str = "0.1.0") -> Path:
    path.mkdir(parents=True)
    (path / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    return path


# -- entries ----------------------------------------------------------------------------------
def test_no_folder_no_charts(tmp_path: Path) -> None:
    assert chart_entries(None) == []
    assert chart_entries(tmp_path / "charts") == []


def test_directories_archives_and_links(tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    a = _chart(charts / "a")
    elsewhere = _chart(tmp_path / "elsewhere" / "b")
    (charts / "b").symlink_to(Path("..") / "elsewhere" / "b")
    archive = tmp_path / "c-1.0.0.tgz"
    archive.write_bytes(b"\x1f\x8b")
    shutil.copy(archive, charts / "c-1.0.0.tgz")
    (charts / "d").write_text("../elsewhere/b\n")  # a link checked out as a file
    (charts / ".hidden").write_text("ignored")
    assert chart_entries(charts) == [
        a.resolve(),
        elsewhere.resolve(),
        (charts / "c-1.0.0.tgz").resolve(),
        elsewhere.resolve(),
    ]


def test_the_story_chart_is_the_kyverno_stand_in() -> None:
    assert chart_entries(STORY_CHARTS) == [KYVERNO_LITE.resolve()]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda c: (c / "x").mkdir(), "a chart directory needs a Chart.yaml"),
        (lambda c: (c / "x").write_text("not a path\nat all"), "neither a chart directory"),
        (lambda c: (c / "x").symlink_to(c / "missing"), "a broken link nor a packaged chart"),
    ],
)
def test_invalid_entries(tmp_path: Path, make: Any, message: str) -> None:
    charts = tmp_path / "charts"
    charts.mkdir()
    make(charts)
    with pytest.raises(ScenarioError, match=message) as err:
        chart_entries(charts)
    assert str(err.value).startswith(str(charts / "x"))


# -- placeholders -----------------------------------------------------------------------------
ADDON: dict[str, Any] = {
    "kind": "EventBasedAddOn",
    "metadata": {"name": "kyverno"},
    "spec": {
        "helmCharts": [
            {"repositoryURL": CHARTS_URL, "chartVersion": "v2.6.0", "replicas": 2},
            {"repositoryURL": f"{CHARTS_OCI_URL}/extra", "values": None},
        ]
    },
}
URLS = {CHARTS_URL: "http://127.0.0.1:1", CHARTS_OCI_URL: "oci://127.0.0.1:1/charts"}


def test_placeholders_found_anywhere() -> None:
    assert placeholders_in(ADDON) == [CHARTS_URL, CHARTS_OCI_URL]
    assert placeholders_in({"data": {"values.yaml": f"url: {CHARTS_URL}"}}) == [CHARTS_URL]
    assert placeholders_in({"kind": "ConfigMap", "data": {"k": "$CHARTS_URL"}}) == []


def test_substitute_is_a_copy_with_every_string_replaced() -> None:
    out = substitute(ADDON, URLS)
    charts = out["spec"]["helmCharts"]
    assert charts[0] == {
        "repositoryURL": "http://127.0.0.1:1",
        "chartVersion": "v2.6.0",
        "replicas": 2,
    }
    assert charts[1] == {"repositoryURL": "oci://127.0.0.1:1/charts/extra", "values": None}
    assert ADDON["spec"]["helmCharts"][0]["repositoryURL"] == CHARTS_URL  # untouched


# -- the chart server -------------------------------------------------------------------------
class _Server(StackCharts):
    def __init__(self, charts_dir: Path | None) -> None:
        self.charts_dir = charts_dir
        self.charts = None


def test_without_charts_nothing_is_served_and_placeholders_fail(tmp_path: Path) -> None:
    server = _Server(tmp_path / "charts")
    server._start_charts()
    assert server.charts_url is None and server.charts_oci_url is None
    plain = [{"kind": "ConfigMap", "metadata": {"name": "x"}}]
    assert server.with_charts_url(plain) == (plain, None)
    with pytest.raises(StackError, match=r"m\.yaml: uses \$\{CHARTS_URL\}, but the stack serves"):
        server.with_charts_url([ADDON], {id(ADDON): "m.yaml"})


def test_the_charts_are_served_for_the_life_of_the_server(tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    charts.mkdir()
    (charts / "kyverno").symlink_to(os.path.relpath(KYVERNO_LITE, charts))
    with ChartRepository([HELLO]) as packager:  # a packaged chart, served as it is
        shutil.copy(packager.directory / "hello-0.1.0.tgz", charts)
    server = _Server(charts)
    server._start_charts()
    try:
        url = server.charts_url
        assert url is not None and url.startswith("http://127.0.0.1:")
        assert server.charts_oci_url == url.replace("http://", "oci://") + "/charts"
        with urllib.request.urlopen(f"{url}/index.yaml", timeout=5) as resp:
            index = yaml.safe_load(resp.read())
        (entry,) = index["entries"]["kyverno"]
        assert entry["version"] == "2.6.0"
        assert entry["urls"] == [f"{url}/kyverno-2.6.0.tgz"]
        assert [e["version"] for e in index["entries"]["hello"]] == ["0.1.0"]
        with urllib.request.urlopen(f"{url}/hello-0.1.0.tgz", timeout=5) as resp:
            assert resp.read() == (charts / "hello-0.1.0.tgz").read_bytes()
        sources = {id(ADDON): "m.yaml"}
        (applied,), out_sources = server.with_charts_url([ADDON], sources)
        assert applied["spec"]["helmCharts"][0]["repositoryURL"] == url
        assert out_sources is not None and out_sources[id(applied)] == "m.yaml"
    finally:
        server._stop_charts()
    assert server.charts_url is None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/index.yaml", timeout=5)
