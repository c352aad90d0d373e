"""A tiny Helm chart repository on loopback HTTP, for the demo and the tests (no internet).

Chart directories are packaged on the fly (``helm_python.package``) into a private directory
whose ``index.yaml`` Helm itself generates (``helm_python.repo_index_generate``, absolute
URLs); the standard library's :class:`~http.server.ThreadingHTTPServer` serves it from a
daemon thread. No event loop is involved, so it runs beside any service or test::

    with ChartRepository(["examples/charts/kyverno-lite"]) as repo:
        repo.url                                   # http://127.0.0.1:<free port>
        repo.add("examples/charts/kyverno-lite", version="3.1.5")   # a new version, live

``username``/``password`` make it demand HTTP basic authentication. ``requests`` counts the
paths served (tests use it to check what a cache saved). The same archives are also served
read-only as an OCI registry (plain HTTP) at ``oci_url``, for ``oci://`` chart sources.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import helm_python

log = logging.getLogger(__name__)


class _Handler(SimpleHTTPRequestHandler):
    repo: ChartRepository

    def __init__(self, *args: Any, repo: ChartRepository, **kwargs: Any) -> None:
        self.repo = repo
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if not self.repo._authorised(self.headers.get("Authorization", "")):
            self._reply(401, b"", {"WWW-Authenticate": 'Basic realm="charts"'}, body)
            return
        with self.repo._lock:
            self.repo.requests[path] += 1
        if path == "/v2" or path.startswith("/v2/"):
            self._reply(*self.repo._oci.answer(path), body=body)
        elif body:
            super().do_GET()
        else:
            super().do_HEAD()

    def _reply(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("chart repository: " + format, *args)


_OCI_PREFIX = "charts"
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_CONFIG = "application/vnd.cncf.helm.config.v1+json"
_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class _Registry:
    """The read side of the OCI distribution API over the archives: what ``helm pull
    oci://...`` asks (tags, manifests by tag or digest, blobs)."""

    def __init__(self, archives: Iterable[Path] = ()) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], str] = {}  # (chart, tag or digest) -> digest
        self.tags: dict[str, list[str]] = {}
        for archive in archives:
            with helm_python.Chart.load(archive) as chart:
                meta = chart.metadata
            name, version = str(meta["name"]), str(meta["version"])
            config, layer = self._blob(json.dumps(meta).encode()), self._blob(archive.read_bytes())
            manifest = {
                "schemaVersion": 2,
                "mediaType": _MANIFEST,
                "config": {"mediaType": _CONFIG, **config},
                "layers": [{"mediaType": _LAYER, **layer}],
            }
            digest = self._blob(json.dumps(manifest).encode())["digest"]
            tag = version.replace("+", "_")
            self.manifests[(name, tag)] = self.manifests[(name, digest)] = digest
            self.tags.setdefault(name, []).append(tag)

    def _blob(self, data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    def answer(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) for a ``/v2/...`` path."""
        parts = path.strip("/").split("/")
        json_type = {"Content-Type": "application/json"}
        if len(parts) == 1:
            return 200, b"{}", json_type
        if len(parts) == 5 and parts[1] == _OCI_PREFIX:
            name, kind, ref = parts[2], parts[3], parts[4]
            if kind == "tags" and ref == "list" and name in self.tags:
                listing = {"name": f"{_OCI_PREFIX}/{name}", "tags": self.tags[name]}
                return 200, json.dumps(listing).encode(), json_type
            digest = self.manifests.get((name, ref)) if kind == "manifests" else ref
            if digest in self.blobs and kind in ("manifests", "blobs"):
                kind_type = _MANIFEST if kind == "manifests" else "application/octet-stream"
                headers = {"Content-Type": kind_type, "Docker-Content-Digest": digest}
                return 200, self.blobs[digest], headers
        error = {"errors": [{"code": "NAME_UNKNOWN", "message": f"{path} not found"}]}
        return 404, json.dumps(error).encode(), json_type


class ChartRepository:
    """Serve chart directories as a Helm repository; ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        charts: Iterable[str | Path] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "",
        password: str = "",
    ) -> None:
        self._host, self._port = host, port
        self._credentials = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username
            else ""
        )
        self._pending = [Path(c) for c in charts]
        self._dir = Path(tempfile.mkdtemp(prefix="ripple-charts-"))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self._oci = _Registry()

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash); only while started."""
        if self._server is None:
            raise RuntimeError("the chart repository is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def directory(self) -> Path:
        """Where the archives and ``index.yaml`` are."""
        return self._dir

    def start(self) -> ChartRepository:
        """Bind a port, package the charts, write the index and serve in a daemon thread."""
        if self._server is not None:
            return self
        handler = partial(_Handler, repo=self, directory=str(self._dir))
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        for chart in self._pending:
            self._package(chart)
        self._reindex()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one interval
            name="chart-repository",
            daemon=True,
        )
        self._thread.start()
        log.info("chart repository at %s (%d archives)", self.url, len(self.archives()))
        return self

    def stop(self) -> None:
        """Stop serving (the port closes: clients get "connection refused") and clean up."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def add(
        self, chart: str | Path, *, version: str | None = None, app_version: str | None = None
    ) -> Path:
        """Package one more chart (optionally as another version) and refresh the index."""
        if self._server is None:
            if version or app_version:
                raise RuntimeError("start the repository before adding a chart version")
            self._pending.append(Path(chart))
            return Path(chart)
        archive = self._package(Path(chart), version=version, app_version=app_version)
        self._reindex()
        return archive

    def remove(self, name: str, version: str) -> None:
        """Withdraw ``<name>-<version>.tgz`` and refresh the index."""
        (self._dir / f"{name}-{version}.tgz").unlink(missing_ok=True)
        self._reindex()

    def archives(self) -> list[str]:
        """The archive file names served, sorted."""
        return sorted(p.name for p in self._dir.glob("*.tgz"))

    def _package(
        self, chart: Path, version: str | None = None, app_version: str | None = None
    ) -> Path:
        return Path(
            helm_python.package(
                chart, destination=self._dir, version=version, app_version=app_version
            )
        )

    @property
    def oci_url(self) -> str:
        """The same charts as an OCI registry: ``oci://host:port/charts`` (plain HTTP)."""
        return self.url.replace("http://", "oci://", 1) + "/" + _OCI_PREFIX

    def _reindex(self) -> None:
        (self._dir / "index.yaml").unlink(missing_ok=True)
        helm_python.repo_index_generate(self._dir, base_url=self.url)
        self._oci = _Registry(sorted(self._dir.glob("*.tgz")))

    def _authorised(self, header: str) -> bool:
        return not self._credentials or header == self._credentials

    def __enter__(self) -> ChartRepository:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["ChartRepository"]
