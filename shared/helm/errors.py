"""Errors of the Helm adapter: retryable failures versus terminal ones.

Every error of :mod:`helm_python` is translated (in :mod:`shared.helm.native`) into one of
two families, so a work-queue handler needs a single ``except`` per family:

- :class:`HelmFailure` (an :class:`~shared.errors.ExternalError`): retrying may succeed. The
  repository or registry is unreachable, the API server failed or timed out, another
  operation on the release is still in progress.
- :class:`HelmTerminal` (an :class:`~shared.errors.InvalidInput`): retrying with the same
  input cannot succeed. The chart or version does not exist, the values are invalid, a
  template fails, the release belongs to someone else. The caller keeps the failure until
  the input changes (``shared.runtime.errors.Terminal`` in a work queue).

Messages name the chart, its version, the release and the cluster, e.g.
``chart hello 0.3.0 (release demo/hello, cluster c1): version not found in
http://127.0.0.1:8879``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import ExternalError, InvalidInput, RippleError


@dataclass(frozen=True)
class Where:
    """What an operation was about, for messages: chart, version, release and cluster."""

    chart: str = ""
    version: str = ""
    release: str = ""
    namespace: str = ""
    cluster: str = ""

    def describe(self) -> str:
        """``chart hello 0.1.0 (release demo/r1, cluster c1)``, omitting what is unknown."""
        head = " ".join(p for p in ("chart", self.chart, self.version) if p) if self.chart else ""
        inner = []
        if self.release:
            inner.append(
                f"release {self.namespace}/{self.release}"
                if self.namespace
                else f"release {self.release}"
            )
        if self.cluster:
            inner.append(f"cluster {self.cluster}")
        tail = f"({', '.join(inner)})" if inner else ""
        return " ".join(p for p in (head, tail) if p) or "helm"


class HelmError(RippleError):
    """Base of the Helm adapter's errors; ``where`` says what the operation was about and
    ``detail`` is Helm's own message (when Helm produced the error)."""

    def __init__(self, message: str, where: Where | None = None, detail: str = "") -> None:
        self.where = where or Where()
        self.detail = detail
        super().__init__(f"{self.where.describe()}: {message}" if where else message)


class HelmFailure(HelmError, ExternalError):
    """Retryable: a repository, registry or API server failed, or an operation timed out."""


class RepositoryUnavailable(HelmFailure):
    """The chart repository or OCI registry did not answer (or answered 5xx / garbage)."""


class ClusterUnavailable(HelmFailure):
    """The managed cluster's API server could not be reached or failed a request."""


class OperationTimeout(HelmFailure):
    """The operation did not finish within its timeout (Helm may still complete it)."""


class OperationInProgress(HelmFailure):
    """The release is pending (install/upgrade/rollback/uninstall) in another operation."""


class HelmTerminal(HelmError, InvalidInput):
    """Terminal: retrying with the same chart, values and cluster cannot succeed."""


class InvalidHelmChart(HelmTerminal):
    """A ``helmCharts`` entry is not acceptable (missing chartName, bad release name...)."""


class ChartNotFound(HelmTerminal):
    """The repository (or directory) answered, and it has no such chart or version."""


class InvalidChart(HelmTerminal):
    """The chart exists but cannot be loaded (corrupt archive, bad Chart.yaml, digest)."""


class InvalidValues(HelmTerminal):
    """The values are rejected (malformed, or against the chart's values.schema.json)."""


class RenderFailed(HelmTerminal):
    """A template of the chart failed to render with these values."""


class ReleaseConflict(HelmTerminal):
    """The release (or an object it would create) belongs to another owner or tool."""


__all__ = [
    "ChartNotFound",
    "ClusterUnavailable",
    "HelmError",
    "HelmFailure",
    "HelmTerminal",
    "InvalidChart",
    "InvalidHelmChart",
    "InvalidValues",
    "OperationInProgress",
    "OperationTimeout",
    "ReleaseConflict",
    "RenderFailed",
    "RepositoryUnavailable",
    "Where",
]
