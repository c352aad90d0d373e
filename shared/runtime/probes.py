"""``/livez``, ``/healthz``, ``/readyz`` and ``/metrics``, served from a thread.

The probes must answer when the event loop cannot: a loop blocked by CPU-bound work
answers nothing, so a probe served on it would time out silently. This server runs in its
own threads (``http.server``) and never waits for the loop to answer a probe:

- ``/livez`` (and ``/healthz``, the same): 200 while :class:`~shared.runtime.liveness.
  Liveness` says the service is live, else 503 with the reason (loop blocked, work stalled);
- ``/readyz``: 200 once every input of the service was read (the service says so:
  ``Service.set_ready``) and while it is live; 503 with the reason otherwise;
- ``/metrics``: the snapshot is taken on the loop (the loop owns what it reads), encoded
  here; 503 at once while the loop is blocked, or when it does not answer within
  :data:`SCRAPE_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.runtime.liveness import Liveness

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT = 5.0

Snapshot = Mapping[str, tuple[str, str, float]]


@dataclass(frozen=True)
class Sources:
    """What the probes read: liveness (any thread), readiness (plain attributes written by
    the loop), the metrics snapshot (taken on ``loop``) and how to encode it."""

    liveness: Liveness
    ready: Callable[[], tuple[bool, str]]  # (ready, why not)
    lag: Callable[[], float]
    snapshot: Callable[[], Snapshot]  # called on the loop
    encode: Callable[[Snapshot], bytes]
    loop: asyncio.AbstractEventLoop


class ProbeServer:
    """The HTTP server and its thread; :meth:`stop` ends both."""

    def __init__(self, host: str, port: int, sources: Sources) -> None:
        handler = type("Handler", (_Handler,), {"sources": sources})
        server_class = _Server6 if ":" in host else ThreadingHTTPServer  # "::": IPv6
        self.server = server_class((host, port), handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def start(self) -> None:
        self.thread.name = f"probes:{self.port}"
        self.thread.start()

    def stop(self) -> None:
        """Blocks until the serving thread ended (at most one poll interval)."""
        self.server.shutdown()
        self.server.server_close()


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    sources: Sources
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if path in ("/livez", "/healthz"):
                self._live()
            elif path == "/readyz":
                self._ready()
            elif path == "/metrics":
                self._metrics()
            else:
                self._json(404, {"status": "not found", "path": path})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away

    def _live(self) -> None:
        verdict = self.sources.liveness.verdict()
        if verdict.live:
            self._json(200, {"status": "ok", "lag_seconds": self.sources.lag()})
        else:
            self._json(503, {"status": "unhealthy", "reason": verdict.reason})

    def _ready(self) -> None:
        verdict = self.sources.liveness.verdict()
        ready, why = self.sources.ready()
        if not verdict.live:
            self._json(503, {"status": "not ready", "reason": verdict.reason})
        elif not ready:
            self._json(503, {"status": "not ready", "reason": why})
        else:
            self._json(200, {"status": "ready"})

    def _metrics(self) -> None:
        verdict = self.sources.liveness.verdict()
        if verdict.loop_blocked:
            self._text(503, f"not live: {verdict.reason}\n".encode())
            return
        try:
            future = asyncio.run_coroutine_threadsafe(_take(self.sources), self.sources.loop)
        except RuntimeError:  # the loop is closed: the service is ending
            self._text(503, b"stopping\n")
            return
        try:
            snapshot = future.result(SCRAPE_TIMEOUT)
        except TimeoutError:
            future.cancel()
            self._text(503, f"event loop did not answer within {SCRAPE_TIMEOUT:g} s\n".encode())
            return
        except Exception as exc:
            future.cancel()
            self._text(500, f"metrics failed: {type(exc).__name__}: {exc}\n".encode())
            return
        self._text(200, self.sources.encode(snapshot), CONTENT_TYPE)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._text(status, json.dumps(body).encode(), "application/json")

    def _text(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log (probes every few seconds)."""


async def _take(sources: Sources) -> Snapshot:
    return dict(sources.snapshot())


__all__ = ["CONTENT_TYPE", "SCRAPE_TIMEOUT", "ProbeServer", "Sources"]
