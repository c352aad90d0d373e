"""shared.helm.sources: from a helmCharts entry to a loaded chart (repository, OCI, local)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest

from shared.helm import errors as e
from shared.helm import sources
from shared.helm.native import default_cache_dir
from shared.helm.repository import ChartRepository
from shared.helm.sources import RepositoryAuth, pick_version, resolve
from tests.helm.conftest import CHARTS, HELLO, hello_spec


@pytest.mark.parametrize(
    ("wanted", "version"),
    [
        ("0.1.0", "0.1.0"),
        ("v0.1.0", "0.1.0"),  # Sveltos' spelling (chartVersion: v2.6.0)
        (">=0.1.0 <1.0.0", "0.2.0"),
        ("~0.1", "0.1.0"),
        ("^0.2", "0.2.0"),
        ("*", "0.2.0"),
    ],
)
def test_versions_and_constraints(
    repo: ChartRepository, cache: Path, wanted: str, version: str
) -> None:
    chart = resolve(hello_spec(repo.url, wanted), cache)
    assert (chart.name, chart.version, chart.source) == ("hello", version, repo.url)
    assert chart.chart.version == version
    assert chart.path.parent.parent == cache / "charts"


def test_prereleases_only_when_the_constraint_names_one() -> None:
    where = e.Where()
    versions = ["1.0.0-rc.1", "0.2.0"]
    assert pick_version(versions, ">=0.1.0", where, "r") == "0.2.0"
    assert pick_version(versions, ">=1.0.0-0", where, "r") == "1.0.0-rc.1"
    assert pick_version(versions, "1.0.0-rc.1", where, "r") == "1.0.0-rc.1"


def test_an_exact_cached_version_needs_no_network(repo: ChartRepository, cache: Path) -> None:
    first = resolve(hello_spec(repo.url, "0.1.0"), cache)
    served = sum(repo.requests.values())
    again = resolve(hello_spec(repo.url, "v0.1.0"), cache)
    assert sum(repo.requests.values()) == served
    assert again.digest == first.digest
    assert again.chart is first.chart  # loaded once


def test_a_constraint_reads_the_index_but_downloads_once(
    repo: ChartRepository, cache: Path
) -> None:
    resolve(hello_spec(repo.url, "~0.2"), cache)
    resolve(hello_spec(repo.url, "~0.2"), cache)
    assert repo.requests["/index.yaml"] == 2
    assert repo.requests["/hello-0.2.0.tgz"] == 1


def test_the_digest_is_the_index_digest(repo: ChartRepository, cache: Path) -> None:
    chart = resolve(hello_spec(repo.url, "0.2.0"), cache)
    assert helm_python.digest(chart.path) == f"sha256:{chart.digest}"


def test_a_missing_version_is_terminal_and_says_what_exists(
    repo: ChartRepository, cache: Path
) -> None:
    with pytest.raises(e.ChartNotFound) as info:
        resolve(hello_spec(repo.url, "9.9.9"), cache)
    assert isinstance(info.value, e.HelmTerminal)
    assert str(info.value) == (
        f"chart hello 9.9.9: no version matching '9.9.9' in {repo.url} (newest: 0.2.0, 0.1.0)"
    )


def test_a_missing_chart_is_terminal(repo: ChartRepository, cache: Path) -> None:
    with pytest.raises(e.ChartNotFound, match=r"has no chart 'nope' \(charts: hello\)"):
        resolve(hello_spec(repo.url, chartName="demo/nope"), cache)


def test_a_bad_constraint_is_terminal(repo: ChartRepository, cache: Path) -> None:
    with pytest.raises(e.InvalidHelmChart, match="neither a version nor a constraint"):
        resolve(hello_spec(repo.url, "latest!"), cache)


def test_a_repository_that_is_down_is_retryable(cache: Path) -> None:
    with ChartRepository([HELLO]) as r:
        url = r.url
    with pytest.raises(e.RepositoryUnavailable) as info:
        resolve(hello_spec(url, "0.1.0"), cache)
    assert isinstance(info.value, e.HelmFailure)
    assert "connection refused" in str(info.value)
    assert str(info.value).startswith(f"chart hello 0.1.0: reading {url}/index.yaml")


def test_credentials_reach_the_repository(cache: Path) -> None:
    with ChartRepository([HELLO], username="u", password="secret") as r:
        with pytest.raises(e.RepositoryUnavailable, match="401"):
            resolve(hello_spec(r.url), cache)
        auth = RepositoryAuth(username="u", password="secret")
        assert resolve(hello_spec(r.url), cache, auth).version == "0.1.0"
        assert "secret" not in repr(auth)


def test_a_corrupt_download_is_not_kept(repo: ChartRepository, cache: Path) -> None:
    (repo.directory / "hello-0.2.0.tgz").write_bytes(b"not a chart")
    with pytest.raises(e.RepositoryUnavailable, match="differs from the index"):
        resolve(hello_spec(repo.url, "0.2.0"), cache)
    assert not list((cache / "charts").rglob("*.tgz"))


def test_local_directory_archive_and_collection(tmp_path: Path, cache: Path) -> None:
    archive = Path(helm_python.package(HELLO, destination=tmp_path, version="0.3.0"))
    by_dir = resolve(hello_spec(f"file://{HELLO}", None), cache)
    by_archive = resolve(hello_spec(str(archive), "0.3.0"), cache)
    in_collection = resolve(hello_spec(str(CHARTS), "0.1.x"), cache)
    from_archives = resolve(hello_spec(str(tmp_path), "~0.3"), cache)
    assert [c.version for c in (by_dir, by_archive, in_collection, from_archives)] == [
        "0.1.0",
        "0.3.0",
        "0.1.0",
        "0.3.0",
    ]
    assert not (cache / "charts").exists()


def test_local_problems_are_terminal(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(e.ChartNotFound, match="does not exist"):
        resolve(hello_spec(str(tmp_path / "none")), cache)
    with pytest.raises(e.ChartNotFound, match="holds chart 'hello', not 'other'"):
        resolve(hello_spec(str(HELLO), chartName="other"), cache)
    with pytest.raises(e.ChartNotFound, match=r"no version matching '2\.0'"):
        resolve(hello_spec(str(HELLO), "2.0"), cache)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "Chart.yaml").write_text("name: [\n")
    with pytest.raises(e.InvalidChart):
        resolve(hello_spec(str(tmp_path / "broken"), chartName="broken"), cache)


def test_a_changed_local_chart_has_another_digest(hello_copy: Path, cache: Path) -> None:
    spec = hello_spec(str(hello_copy))
    before = resolve(spec, cache)
    (hello_copy / "values.yaml").write_text("greeting: bonjour\n")
    after = resolve(spec, cache)
    assert before.digest != after.digest
    assert after.chart.values == {"greeting": "bonjour"}


def test_an_unreachable_registry_is_retryable(cache: Path) -> None:
    spec = hello_spec("oci://127.0.0.1:1/charts", "0.1.0")
    with pytest.raises(e.RepositoryUnavailable, match="connection refused"):
        resolve(spec, cache)


def test_the_lru_keeps_a_bounded_number_of_charts(tmp_path: Path, cache: Path) -> None:
    for i in range(sources._LRU_SIZE + 3):
        archive = helm_python.package(HELLO, destination=tmp_path, version=f"1.0.{i}")
        resolve(hello_spec(archive, f"1.0.{i}"), cache)
    assert len(sources._loaded) == sources._LRU_SIZE


def oci_spec(repo: ChartRepository, version: str) -> Any:
    return hello_spec(repo.oci_url, version, registryCredentialsConfig={"plainHTTP": True})


def test_oci_exact_version_and_cache(repo: ChartRepository, cache: Path) -> None:
    chart = resolve(oci_spec(repo, "0.1.0"), cache)
    assert (chart.name, chart.version, chart.source) == ("hello", "0.1.0", f"{repo.oci_url}/hello")
    assert helm_python.digest(chart.path) == f"sha256:{chart.digest}"
    served = sum(repo.requests.values())
    assert resolve(oci_spec(repo, "0.1.0"), cache).digest == chart.digest
    assert sum(repo.requests.values()) == served


def test_oci_constraints_choose_among_the_tags(repo: ChartRepository, cache: Path) -> None:
    assert resolve(oci_spec(repo, "~0.2"), cache).version == "0.2.0"
    assert resolve(oci_spec(repo, ">=0.1.0 <0.2.0"), cache).version == "0.1.0"
    assert repo.requests["/v2/charts/hello/tags/list"] == 2


def test_oci_missing_version_or_chart_is_terminal(repo: ChartRepository, cache: Path) -> None:
    with pytest.raises(e.ChartNotFound, match=r"9\.9\.9: not found"):
        resolve(oci_spec(repo, "9.9.9"), cache)
    with pytest.raises(e.ChartNotFound, match=r"no version matching '\^3'"):
        resolve(oci_spec(repo, "^3"), cache)
    with pytest.raises(e.HelmTerminal):
        resolve(
            hello_spec(
                repo.oci_url,
                "~1",
                chartName="demo/nope",
                registryCredentialsConfig={"plainHTTP": True},
            ),
            cache,
        )


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "ripple" / "helm"
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/not-writable")
    fallback = default_cache_dir()
    assert fallback.name.startswith("ripple-helm-") and fallback.is_dir()
