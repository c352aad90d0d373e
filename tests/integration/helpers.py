"""What the integration tests share: polling with a deadline and the scenario's event."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def eventually(
    check: Callable[[], Any], timeout: float = 15.0, what: str = "", interval: float = 0.01
) -> Any:
    """Poll ``check`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s: {what} (last: {last!r})")


def service(name: str) -> dict[str, Any]:
    """A Service labelled ``sveltos: fv``: an event for the spec's first example."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"sveltos": "fv"}},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
    }
