"""The calls into ``helm_python`` (Helm's v4 SDK over its C ABI), and their errors.

Why not only ``helm_python.Config.install``/``upgrade``/``uninstall``: those wrappers forward
a fixed subset of the C ABI's options, and Ripple needs ``disable_hooks``, ``skip_crds``,
``take_ownership``, ``replace``, ``disable_openapi_validation``, ``skip_schema_validation``
and ``deletion_propagation``. The C ABI (helm-c 0.2.2, pinned with helm-python-sdk 0.2.2)
declares them in its options JSON ("keys are ABI: additive only") and rejects unknown keys
with ``HelmInvalidArgError``, so a binding that stopped accepting one fails loudly instead of
silently running hooks. The three action calls below go through ``helm_python._native``
with exactly the argument list ``Config.install``/``upgrade``/``uninstall`` use; everything
else is the public ``helm_python`` API.

:func:`translate` maps every ``helm_python`` error to :mod:`shared.helm.errors`.

A Helm call blocks its thread and releases the GIL (ctypes), so callers run these from a
worker thread. One :class:`helm_python.Config` serves concurrent actions on different
releases; concurrent writes to one release must be serialised by the caller.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import helm_python
from helm_python import _native

from shared.helm import errors as e

Kubeconfig = str | os.PathLike[str] | bytes

_RENDER_HINTS = ("execution error at", "parse error", "template: ", "error converting YAML")
_VALUES_HINTS = ("values don't meet the specifications", "schema(s)")
_CONFLICT_HINTS = ("invalid ownership metadata", "exists and cannot be imported", "conflict")
_BUSY_HINTS = ("another operation", "is in progress")
_NOT_FOUND_HINTS = ("not found", "manifest unknown", "name unknown", "no such host")


def open_config(
    kubeconfig: Kubeconfig,
    namespace: str,
    *,
    qps: float,
    burst: int,
    storage_driver: str = "secret",
) -> helm_python.Config:
    """A Helm configuration bound to one namespace (cheap: no request until an action).

    ``kubeconfig`` is a path, or the kubeconfig's content as bytes.
    """
    if isinstance(kubeconfig, bytes):
        return helm_python.Config(
            kubeconfig_content=kubeconfig.decode(),
            namespace=namespace,
            qps=qps,
            burst_limit=burst,
            storage_driver=storage_driver,
        )
    return helm_python.Config(
        kubeconfig_path=os.fspath(kubeconfig),
        namespace=namespace,
        qps=qps,
        burst_limit=burst,
        storage_driver=storage_driver,
    )


class Deadline:
    """A cancellation context that fires after ``seconds`` (for install and upgrade)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.context = helm_python.HelmContext()
        self.expired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.expired = True
        self.context.cancel()

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self.context.close()


def _action(
    function: str,
    config: helm_python.Config,
    deadline: Deadline,
    chart: helm_python.Chart,
    name: str,
    values: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    payload = _native.call_string(
        function,
        config._raw(),
        deadline.context._raw(),
        chart._raw(),
        None,
        name,
        json.dumps(values),
        json.dumps({k: v for k, v in options.items() if v not in (None, "", False)}),
    )
    decoded: dict[str, Any] = json.loads(payload)
    return decoded


def install(
    config: helm_python.Config,
    deadline: Deadline,
    chart: helm_python.Chart,
    name: str,
    values: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    """``helm install`` with any option of the C ABI's InstallOptions (hooks off)."""
    return _action("helm_install", config, deadline, chart, name, values, options)


def upgrade(
    config: helm_python.Config,
    deadline: Deadline,
    chart: helm_python.Chart,
    name: str,
    values: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    """``helm upgrade`` with any option of the C ABI's UpgradeOptions (hooks off)."""
    return _action("helm_upgrade", config, deadline, chart, name, values, options)


def uninstall(config: helm_python.Config, name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``helm uninstall`` with any option of the C ABI's UninstallOptions (hooks off)."""
    present = {k: v for k, v in options.items() if v not in (None, "", False)}
    payload = _native.call_string("helm_uninstall", config._raw(), name, json.dumps(present))
    decoded: dict[str, Any] = json.loads(payload)
    return decoded


def classify(exc: helm_python.HelmError, where: e.Where, doing: str) -> e.HelmError:
    """The Ripple error for a ``helm_python`` error raised while ``doing`` something."""
    detail = str(exc)
    low = detail.lower()
    message = f"{doing}: {detail}"

    def has(hints: tuple[str, ...]) -> bool:
        return any(h.lower() in low for h in hints)

    kind: type[e.HelmError]
    if isinstance(exc, helm_python.HelmCancelledError):
        kind = e.OperationTimeout
    elif isinstance(exc, helm_python.HelmRenderError):
        kind = e.RenderFailed
    elif isinstance(exc, helm_python.HelmValuesError):
        kind = e.InvalidValues
    elif isinstance(exc, helm_python.HelmChartLoadError | helm_python.HelmChartInvalidError):
        kind = e.InvalidChart
    elif isinstance(exc, helm_python.HelmRepoError | helm_python.HelmRegistryError):
        unreachable = "cannot be reached" in low or "dial tcp" in low or "timeout" in low
        kind = (
            e.ChartNotFound
            if has(_NOT_FOUND_HINTS) and not unreachable
            else (e.RepositoryUnavailable)
        )
    elif isinstance(exc, helm_python.HelmKubeError | helm_python.HelmStorageError):
        kind = e.ClusterUnavailable
    elif isinstance(exc, helm_python.HelmInvalidArgError):
        kind = e.HelmTerminal
    elif has(_BUSY_HINTS):
        kind = e.OperationInProgress
    elif has(_VALUES_HINTS):
        kind = e.InvalidValues
    elif has(_RENDER_HINTS):
        kind = e.RenderFailed
    elif has(_CONFLICT_HINTS):
        kind = e.ReleaseConflict
    else:  # release/unknown errors are mostly the API server's: retry
        kind = e.HelmFailure
    return kind(message, where, detail)


@contextmanager
def translate(where: e.Where, doing: str) -> Iterator[None]:
    """Re-raise a ``helm_python`` error as the matching :mod:`shared.helm.errors` error."""
    try:
        yield
    except helm_python.HelmError as exc:
        raise classify(exc, where, doing) from exc


def is_not_found(exc: BaseException) -> bool:
    """Whether a ``helm_python`` error says the release does not exist."""
    return isinstance(exc, helm_python.HelmNotFoundError) or (
        isinstance(exc, helm_python.HelmError) and "release: not found" in str(exc)
    )


__all__ = [
    "Deadline",
    "Kubeconfig",
    "classify",
    "install",
    "is_not_found",
    "open_config",
    "translate",
    "uninstall",
    "upgrade",
]
