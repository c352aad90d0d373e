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

:func:`translate` maps every ``helm_python`` error to :mod:`shared.helm.errors`;
:func:`bounded` runs a call under a wall-clock limit (cancelling install/upgrade).

A Helm call blocks its thread and releases the GIL (ctypes), so callers run these from a
worker thread. One :class:`helm_python.Config` serves concurrent actions on different
releases; concurrent writes to one release must be serialised by the caller.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import helm_python
import yaml
from helm_python import _native

from shared.helm import errors as e

Kubeconfig = str | os.PathLike[str] | bytes
DEFAULT_QPS = 200.0
DEFAULT_BURST = 400
T = TypeVar("T")
_GRACE = 2.0  # seconds a cancelled call gets to return

_RENDER_HINTS = ("execution error at", "parse error", "template: ", "error converting YAML")
_VALUES_HINTS = ("values don't meet the specifications", "schema(s)")
_CONFLICT_HINTS = (
    "invalid ownership metadata",
    "exists and cannot be imported",
    "apply failed with",
)
_BUSY_HINTS = ("another operation", "is in progress")
_NOT_FOUND_HINTS = ("not found", "manifest unknown", "name unknown")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ripple/helm`` (``~/.cache``), or a per-user directory in /tmp."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    for candidate in (Path(base) / "ripple" / "helm", _tmp_cache()):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    raise e.HelmFailure("no writable Helm cache directory (set one explicitly)")


def _tmp_cache() -> Path:
    return Path(tempfile.gettempdir()) / f"ripple-helm-{os.getuid()}"


def cluster_name(kubeconfig: Kubeconfig) -> str:
    """The kubeconfig's current context (for messages), or its file name."""
    try:
        text = kubeconfig if isinstance(kubeconfig, bytes) else Path(kubeconfig).read_bytes()
        context = (yaml.safe_load(text) or {}).get("current-context")
    except (OSError, yaml.YAMLError, AttributeError):
        context = None
    if context:
        return str(context)
    return "inline kubeconfig" if isinstance(kubeconfig, bytes) else os.fspath(kubeconfig)


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


def bounded(
    call: Callable[[helm_python.HelmContext], T], seconds: float, where: e.Where, doing: str
) -> T:
    """Run ``call(context)`` in a daemon thread; give up after ``seconds``.

    At the deadline the context is cancelled (install and upgrade honour it: they return
    ``HelmCancelledError`` at once); a call still running ``_GRACE`` seconds later is left
    to finish in the background (the SDK offers no way to stop uninstall or status) and
    :class:`~shared.helm.errors.OperationTimeout` is raised. Every other outcome is
    translated like :func:`translate`.
    """
    context = helm_python.HelmContext()
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = call(context)
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"helm {doing}", daemon=True).start()
    if not done.wait(seconds):
        context.cancel()
        if not done.wait(_GRACE):
            raise e.OperationTimeout(
                f"{doing} did not finish within {seconds:g}s (Helm may still complete it)", where
            )
    context.close()
    error = box.get("error")
    if isinstance(error, helm_python.HelmCancelledError):
        raise e.OperationTimeout(
            f"{doing} was cancelled after {seconds:g}s: {error}", where, str(error)
        ) from error
    if isinstance(error, helm_python.HelmError):
        raise classify(error, where, doing) from error
    if error is not None:
        raise error
    value: T = box["value"]
    return value


def _options(options: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in options.items() if v not in (None, "", False)})


def _action(
    function: str,
    config: helm_python.Config,
    context: helm_python.HelmContext,
    chart: helm_python.Chart,
    name: str,
    values: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    payload = _native.call_string(
        function,
        config._raw(),
        context._raw(),
        chart._raw(),
        None,
        name,
        json.dumps(values),
        _options(options),
    )
    decoded: dict[str, Any] = json.loads(payload)
    return decoded


def install(
    config: helm_python.Config,
    context: helm_python.HelmContext,
    chart: helm_python.Chart,
    name: str,
    values: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    """``helm install`` with any option of the C ABI's InstallOptions; the release summary."""
    return _action("helm_install", config, context, chart, name, values, options)


def upgrade(
    config: helm_python.Config,
    context: helm_python.HelmContext,
    chart: helm_python.Chart,
    name: str,
    values: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    """``helm upgrade`` with any option of the C ABI's UpgradeOptions; the release summary."""
    return _action("helm_upgrade", config, context, chart, name, values, options)


def uninstall(config: helm_python.Config, name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``helm uninstall`` with any option of the C ABI's UninstallOptions."""
    payload = _native.call_string("helm_uninstall", config._raw(), name, _options(options))
    decoded: dict[str, Any] = json.loads(payload)
    return decoded


def rollback(config: helm_python.Config, name: str, options: dict[str, Any]) -> None:
    """``helm rollback`` (to the previous revision unless ``version``) with ABI options."""
    _native.call_status("helm_rollback", config._raw(), name, _options(options))


def manifest(config: helm_python.Config, name: str, where: e.Where) -> str:
    """The rendered manifest of the release's current revision."""
    with translate(where, "reading the release manifest"):
        return str(config.status(name).get("manifest") or "")


def enable_sdk_logging(level: int = logging.WARNING) -> None:
    """Route the Helm SDK's own log records (from Go) to the ``shared.helm.native.helm``
    logger. Process-wide; call once at start-up, before the first operation."""
    helm_python.enable_logging(level, logging.getLogger(f"{__name__}.helm"))


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
    "DEFAULT_BURST",
    "DEFAULT_QPS",
    "Kubeconfig",
    "bounded",
    "classify",
    "cluster_name",
    "default_cache_dir",
    "enable_sdk_logging",
    "install",
    "is_not_found",
    "manifest",
    "open_config",
    "rollback",
    "translate",
    "uninstall",
    "upgrade",
]
