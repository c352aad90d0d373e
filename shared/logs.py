"""Stdlib logging set-up shared by every service and tool.

Every record carries the identity of the object it is about (``obj``: ``kind/ns/name`` or
``cluster``); use :func:`ident` to build it and pass it as ``extra={"obj": ...}`` or through
:class:`ObjectLogger`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

FORMAT = "%(asctime)s %(levelname)-5s %(name)s [%(obj)s] %(message)s"


class _DefaultObject(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "obj"):
            record.obj = "-"
        return True


def setup(level: str | None = None, stream: Any = None) -> None:
    """Configure the root logger once (idempotent). ``RIPPLE_LOG_LEVEL`` overrides the level."""
    level = (level or os.environ.get("RIPPLE_LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ripple", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_DefaultObject())
    handler._ripple = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # the HTTP client's per-request lines drown everything else at DEBUG
    logging.getLogger("urllib3").setLevel(max(logging.WARNING, root.level))


def ident(kind: str, name: str, namespace: str | None = None, cluster: str | None = None) -> str:
    """Identity of an object as it appears in log records: ``[cluster:]Kind/ns/name``."""
    path = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    return f"{cluster}:{path}" if cluster else path


class ObjectLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter that stamps every record with one object's identity."""

    def __init__(self, logger: logging.Logger, obj: str) -> None:
        super().__init__(logger, {"obj": obj})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra: Mapping[str, Any] = kwargs.get("extra") or {}
        kwargs["extra"] = {**(self.extra or {}), **extra}
        return msg, kwargs
