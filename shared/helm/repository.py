"""A tiny Helm chart repository on loopback HTTP, for the demo and the tests (no internet).

Chart directories are packaged on the fly (``helm_python.package``) into a private directory
whose ``index.yaml`` Helm itself generates (``helm_python.repo_index_generate``, absolute
URLs); the standard library's :class:`~http.server.ThreadingHTTPServer` serves it from a
daemon thread. No event loop is involved, so it runs beside any service or test::

    with ChartRepository(["examples/charts/kyverno-lite"]) as repo:
        repo.url                                   # http://127.0.0.1:<free port>
        repo.add("examples/charts/kyverno-lite", version="3.1.5")   # a new version, live

``username``/``password`` make it demand HTTP basic authentication. ``requests`` counts the
paths served (tests use it to check what a cache saved).
"""

from __future__ import annotations

import base64
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
        if not self.repo._authorised(self.headers.get("Authorization", "")):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with self.repo._lock:
            self.repo.requests[self.path.split("?", 1)[0]] += 1
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("chart repository: " + format, *args)


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

    def _reindex(self) -> None:
        (self._dir / "index.yaml").unlink(missing_ok=True)
        helm_python.repo_index_generate(self._dir, base_url=self.url)

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
