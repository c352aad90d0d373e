"""Chart resolution: a ``helmCharts`` entry -> a loaded chart from a digest-checked cache.

- HTTP(S) repository: ``index.yaml`` is read with Helm's own client
  (``helm_python.repo_index``), the version is chosen here (an exact version first, then the
  highest version satisfying ``chartVersion`` as a Masterminds semver constraint, pre-releases
  only when the constraint names one, as Helm does), and the archive is downloaded by Helm
  from its absolute URL into ``<cache>/charts/<repo hash>/<name>-<version>.tgz`` and checked
  against the index digest. An exact ``chartVersion`` already in the cache needs no network.
- ``oci://``: a constraint is resolved among the repository's tags (same rules); the
  archive is pulled by Helm into ``<cache>/charts/<ref hash>/``; an exact cached version
  needs no network. Logins go to ``<cache>/registry.json``, never Helm's file in $HOME.
- local (``file://`` or absolute path): a chart directory or ``.tgz``, or a directory of
  ``<chart>/`` and ``<chart>-<version>.tgz``; no cache.

Why not Helm's ``helm repo``-style download (``pull name --repo url``): it writes the index
into Helm's repository cache, whose location the Go runtime reads from the environment of
the process at start (``HELM_CACHE_HOME``); changing ``os.environ`` afterwards does not reach
it. Everything here writes only under ``cache_dir``.

Loaded charts are kept in a small LRU keyed by archive digest (charts are immutable and
safe to share between threads).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cmp_to_key
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import helm_python

from shared.helm import errors as e
from shared.helm.native import translate
from shared.helm.spec import HelmChart
from shared.templating.errors import FunctionError
from shared.templating.funcs.semver import Version, check_constraint, parse_version

_EXACT_RE = re.compile(r"^v?\d+(\.\d+){0,2}(-[0-9A-Za-z.\-]+)?(\+[0-9A-Za-z.\-]+)?$")
_LRU_SIZE = 16


def _compare(a: tuple[Version, str], b: tuple[Version, str]) -> int:
    return a[0].compare(b[0])


_key = cmp_to_key(_compare)


@dataclass(frozen=True)
class RepositoryAuth:
    """Credentials of a private repository or registry, resolved by the caller."""

    username: str = ""
    password: str = field(default="", repr=False)
    insecure_skip_tls_verify: bool = False
    plain_http: bool = False


@dataclass(frozen=True)
class ResolvedChart:
    """A chart ready to install: where it came from, what it is, and the loaded handle."""

    name: str
    version: str
    app_version: str
    digest: str
    path: Path
    source: str
    chart: helm_python.Chart = field(repr=False, compare=False)


_lock = threading.Lock()
_loaded: OrderedDict[str, helm_python.Chart] = OrderedDict()


def _load(path: Path, digest: str, where: e.Where) -> helm_python.Chart:
    with _lock:
        chart = _loaded.get(digest)
        if chart is not None:
            _loaded.move_to_end(digest)
            return chart
    with translate(where, f"loading {path}"):
        chart = helm_python.Chart.load(path)
    with _lock:
        _loaded[digest] = chart
        while len(_loaded) > _LRU_SIZE:
            _loaded.popitem(last=False)  # the handle is freed once nobody holds it
    return chart


def file_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's files (relative path and content, sorted)."""
    h = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                h.update(block)
        return h.hexdigest()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _resolved(path: Path, source: str, where: e.Where, digest: str = "") -> ResolvedChart:
    digest = digest or file_digest(path)
    chart = _load(path, digest, where)
    meta = chart.metadata
    return ResolvedChart(
        name=str(meta.get("name", "")),
        version=str(meta.get("version", "")),
        app_version=str(meta.get("appVersion", "") or ""),
        digest=digest,
        path=path,
        source=source,
        chart=chart,
    )


def pick_version(versions: list[str], wanted: str, where: e.Where, source: str) -> str:
    """The version to install: ``wanted`` verbatim, else the highest satisfying it."""
    if wanted in versions:
        return wanted
    constraint = wanted.strip() or "*"
    candidates: list[tuple[Version, str]] = []
    for text in versions:
        try:
            candidates.append((parse_version(text), text))
        except FunctionError:
            continue
    try:
        matching = [(v, t) for v, t in candidates if check_constraint(constraint, v)]
    except FunctionError as exc:
        raise e.InvalidHelmChart(
            f"chartVersion {wanted!r} is neither a version nor a constraint: {exc}", where
        ) from None
    if not matching:
        newest = ", ".join(t for _, t in sorted(candidates, key=_key, reverse=True)[:5])
        raise e.ChartNotFound(
            f"no version matching {wanted!r} in {source} (newest: {newest or 'none'})", where
        )
    return max(matching, key=_key)[1]


def _exact(version: str) -> str:
    """The normalised form of an exact version ("v2.6.0" -> "2.6.0"), or ""."""
    if not _EXACT_RE.match(version.strip()):
        return ""
    try:
        return parse_version(version.strip()).go_string()
    except FunctionError:
        return ""


def _repo_dir(cache_dir: Path, url: str) -> Path:
    d = cache_dir / "charts" / hashlib.sha256(url.encode()).hexdigest()[:16]
    d.mkdir(parents=True, exist_ok=True)
    return d


def _download(url: str, into: Path, auth: RepositoryAuth, where: e.Where, **pull: Any) -> Path:
    """``helm pull`` into a fresh directory under ``into``; the archive's path."""
    with tempfile.TemporaryDirectory(dir=into, prefix=".pull-") as tmp:
        with translate(where, f"downloading {url}"):
            helm_python.pull(
                url,
                destination=tmp,
                username=auth.username or None,
                password=auth.password or None,
                insecure_skip_tls_verify=auth.insecure_skip_tls_verify,
                plain_http=auth.plain_http,
                **pull,
            )
        archives = sorted(Path(tmp).glob("*.tgz"))
        if len(archives) != 1:
            raise e.RepositoryUnavailable(f"downloading {url} gave {len(archives)} archives", where)
        fd, keep = tempfile.mkstemp(dir=into, prefix=".dl-", suffix=".tgz")
        os.close(fd)
        os.replace(archives[0], keep)
        return Path(keep)


def resolve_http(
    spec: HelmChart, cache_dir: Path, auth: RepositoryAuth, where: e.Where
) -> ResolvedChart:
    repo = spec.repository_url.rstrip("/")
    name = spec.chart_ref()
    directory = _repo_dir(cache_dir, repo)
    exact = _exact(spec.chart_version)
    cached = directory / f"{name}-{exact}.tgz"
    if exact and cached.is_file():
        return _resolved(cached, repo, where)
    try:
        index = helm_python.repo_index(
            repo,
            username=auth.username or None,
            password=auth.password or None,
            insecure_skip_tls_verify=auth.insecure_skip_tls_verify,
        )
    except helm_python.HelmError as exc:
        raise e.RepositoryUnavailable(f"reading {repo}/index.yaml: {exc}", where, str(exc)) from exc
    entries: list[dict[str, Any]] = (index.get("entries") or {}).get(name) or []
    if not entries:
        known = ", ".join(sorted(index.get("entries") or {})[:10])
        raise e.ChartNotFound(f"{repo} has no chart {name!r} (charts: {known or 'none'})", where)
    by_version = {str(x.get("version", "")): x for x in entries}
    version = pick_version(list(by_version), spec.chart_version, where, repo)
    entry = by_version[version]
    urls = entry.get("urls") or []
    if not urls:
        raise e.InvalidChart(f"{repo}/index.yaml lists {name} {version} without a URL", where)
    target = directory / f"{name}-{_exact(version) or version}.tgz"
    digest = str(entry.get("digest") or "")
    if target.is_file() and (not digest or file_digest(target) == digest):
        return _resolved(target, repo, where, digest)
    got = _download(urljoin(repo + "/", str(urls[0])), directory, auth, where)
    actual = file_digest(got)
    if digest and actual != digest:
        got.unlink(missing_ok=True)
        raise e.RepositoryUnavailable(
            f"{name} {version} from {repo}: digest {actual} differs from the index's {digest}",
            where,
        )
    os.replace(got, target)
    return _resolved(target, repo, where, actual)


def _tags(ref: str, cache_dir: Path, auth: RepositoryAuth, where: e.Where) -> list[str]:
    """The versions an OCI repository holds (tags, ``_`` read as ``+``)."""
    credentials = cache_dir / "registry.json"  # never Helm's file under $HOME
    with (
        translate(where, f"listing the tags of {ref}"),
        helm_python.RegistryClient(
            plain_http=auth.plain_http, credentials_file=credentials
        ) as client,
    ):
        if auth.username:
            host = urlsplit(ref.replace("oci://", "https://", 1)).netloc
            client.login(
                host,
                auth.username,
                auth.password,
                insecure=auth.insecure_skip_tls_verify,
                plain_http=auth.plain_http,
            )
        return [t.replace("_", "+") for t in client.tags(ref)]


def resolve_oci(
    spec: HelmChart, cache_dir: Path, auth: RepositoryAuth, where: e.Where
) -> ResolvedChart:
    ref = f"{spec.repository_url.rstrip('/')}/{spec.chart_ref()}"
    directory = _repo_dir(cache_dir, ref)
    base = spec.chart_ref().rsplit("/", 1)[-1]
    version = spec.chart_version.strip()
    if not _exact(version):  # a constraint: choose among the tags, as for an index
        version = pick_version(_tags(ref, cache_dir, auth, where), version, where, ref)
    cached = directory / f"{base}-{_exact(version)}.tgz"
    if cached.is_file():
        return _resolved(cached, ref, where)
    got = _download(ref, directory, auth, where, version=version)
    os.replace(got, cached)
    return _resolved(cached, ref, where)


def resolve_local(spec: HelmChart, where: e.Where) -> ResolvedChart:
    root = Path(spec.local_path())
    name = spec.chart_ref()
    if root.is_file() or (root / "Chart.yaml").is_file():
        found = _resolved(root, str(root), where)
    elif (root / name / "Chart.yaml").is_file():
        found = _resolved(root / name, str(root), where)
    elif root.is_dir():
        archives = {p.name[len(name) + 1 : -4]: p for p in root.glob(f"{name}-*.tgz")}
        if not archives:
            raise e.ChartNotFound(f"{root} has no chart {name!r}", where)
        version = pick_version(list(archives), spec.chart_version, where, str(root))
        found = _resolved(archives[version], str(root), where)
    else:
        raise e.ChartNotFound(f"{root} does not exist", where)
    if found.name != name:
        raise e.ChartNotFound(f"{found.path} holds chart {found.name!r}, not {name!r}", where)
    if spec.chart_version:
        pick_version([found.version], spec.chart_version, where, str(found.path))
    return found


def resolve(
    spec: HelmChart,
    cache_dir: Path,
    auth: RepositoryAuth | None = None,
    where: e.Where | None = None,
) -> ResolvedChart:
    """The chart a ``helmCharts`` entry names, loaded (see the module docstring)."""
    where = where or e.Where(chart=spec.chart_ref(), version=spec.chart_version)
    auth = auth or RepositoryAuth()
    if spec.registry_credentials_config is not None:
        rc = spec.registry_credentials_config
        auth = RepositoryAuth(
            auth.username,
            auth.password,
            auth.insecure_skip_tls_verify or rc.insecure_skip_tls_verify,
            auth.plain_http or rc.plain_http,
        )
    kind = spec.source_kind
    if kind == "http":
        return resolve_http(spec, cache_dir, auth, where)
    if kind == "oci":
        return resolve_oci(spec, cache_dir, auth, where)
    return resolve_local(spec, where)


__all__ = ["RepositoryAuth", "ResolvedChart", "file_digest", "pick_version", "resolve"]
