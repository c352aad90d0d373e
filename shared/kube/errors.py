"""Errors of the Kubernetes adapter."""

from __future__ import annotations

from shared.errors import ExternalError, InvalidInput


class KubeError(ExternalError):
    """A Kubernetes API request failed; ``status`` is the HTTP status (0 for transport)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeNotFound(KubeError):
    """The object does not exist (404)."""


class KindNotServed(KubeError):
    """Positive knowledge: the cluster does not serve this apiVersion/kind. Discovery answered
    completely (200) and its group list lacks the group or version, or the group/version's
    resource list lacks the kind (no CRD, unknown group)."""


class DiscoveryFailed(KubeError):
    """Discovery gave no complete answer (5xx, 403, a 404 for a group/version the group list
    names, a transport error, a timeout, an unreadable document): whether the kind is served
    is UNKNOWN, never "not served". ``status`` is the HTTP status (0: no answer) and ``url``
    the document that failed."""

    def __init__(self, message: str, status: int = 0, reason: str = "", url: str = "") -> None:
        super().__init__(message, status, reason)
        self.url = url


class WatchExpired(KubeError):
    """The watch's resourceVersion is too old (410 Gone): relist."""


class KubeConfigInvalid(InvalidInput):
    """The kubeconfig (or the in-cluster configuration) cannot be read: missing file, no
    context, bad YAML. One line naming the file; retrying cannot help."""
