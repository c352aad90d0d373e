"""shared.helm.repository: a loopback chart repository Helm itself can read."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import helm_python
import pytest
import yaml

from shared.helm.repository import ChartRepository
from tests.helm.conftest import HELLO, KYVERNO_LITE


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: bytes = response.read()
        return data


def test_index_lists_the_charts_with_absolute_urls(repo: ChartRepository) -> None:
    index = yaml.safe_load(get(f"{repo.url}/index.yaml"))
    versions = {e["version"]: e for e in index["entries"]["hello"]}
    assert set(versions) == {"0.1.0", "0.2.0"}
    assert versions["0.2.0"]["urls"] == [f"{repo.url}/hello-0.2.0.tgz"]
    assert versions["0.1.0"]["digest"]
    assert repo.archives() == ["hello-0.1.0.tgz", "hello-0.2.0.tgz"]


def test_the_archive_downloads_and_matches_its_digest(
    repo: ChartRepository, tmp_path: Path
) -> None:
    archive = tmp_path / "hello.tgz"
    archive.write_bytes(get(f"{repo.url}/hello-0.1.0.tgz"))
    index = yaml.safe_load(get(f"{repo.url}/index.yaml"))
    digest = next(e["digest"] for e in index["entries"]["hello"] if e["version"] == "0.1.0")
    assert helm_python.digest(archive) == f"sha256:{digest}"
    assert repo.requests["/hello-0.1.0.tgz"] == 1


def test_helm_reads_the_index_and_pulls_a_chart(repo: ChartRepository, tmp_path: Path) -> None:
    index = helm_python.repo_index(repo.url)
    assert sorted(e["version"] for e in index["entries"]["hello"]) == ["0.1.0", "0.2.0"]
    helm_python.pull(f"{repo.url}/hello-0.2.0.tgz", destination=tmp_path)
    with helm_python.Chart.load(tmp_path / "hello-0.2.0.tgz") as chart:
        assert (chart.name, chart.version) == ("hello", "0.2.0")
        manifests = chart.render({"greeting": "hi"}, name="r", namespace="ns")
    assert 'greeting: "hi"' in manifests["hello/templates/configmap.yaml"]


def test_a_version_added_while_serving_appears_in_the_index(repo: ChartRepository) -> None:
    repo.add(HELLO, version="1.0.0", app_version="2.0")
    entries = helm_python.repo_index(repo.url)["entries"]["hello"]
    assert {e["version"]: e.get("appVersion") for e in entries}["1.0.0"] == "2.0"
    repo.remove("hello", "0.1.0")
    entries = helm_python.repo_index(repo.url)["entries"]["hello"]
    assert sorted(e["version"] for e in entries) == ["0.2.0", "1.0.0"]


def test_several_charts(tmp_path: Path) -> None:
    with ChartRepository([HELLO, KYVERNO_LITE]) as r:
        assert sorted(helm_python.repo_index(r.url)["entries"]) == ["hello", "kyverno"]


def test_basic_authentication(tmp_path: Path) -> None:
    with ChartRepository([HELLO], username="u", password="p") as r:
        with pytest.raises(urllib.error.HTTPError) as info:
            get(f"{r.url}/index.yaml")
        info.value.close()
        assert info.value.code == 401
        with pytest.raises(helm_python.HelmRepoError):
            helm_python.repo_index(r.url)
        assert "hello" in helm_python.repo_index(r.url, username="u", password="p")["entries"]


def test_stop_closes_the_port_and_removes_the_files() -> None:
    r = ChartRepository([HELLO]).start()
    url, directory = r.url, r.directory
    r.stop()
    assert not directory.exists()
    with pytest.raises(urllib.error.URLError):
        get(f"{url}/index.yaml")
    with pytest.raises(RuntimeError, match="not started"):
        _ = r.url
