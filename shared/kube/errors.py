"""Errors of the Kubernetes adapter."""

from __future__ import annotations

from shared.errors import ExternalError


class KubeError(ExternalError):
    """A Kubernetes API request failed; ``status`` is the HTTP status (0 for transport)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeNotFound(KubeError):
    """The object does not exist (404)."""


class KindNotServed(KubeError):
    """The cluster does not serve this apiVersion/kind (no CRD, unknown group)."""


class WatchExpired(KubeError):
    """The watch's resourceVersion is too old (410 Gone): relist."""
