"""Helm charts in managed clusters, through Helm's own SDK (``helm_python``, Helm v4).

The only package that imports :mod:`helm_python` (an 85 MB shared library, loaded on first
import), so this ``__init__`` imports nothing heavy: the model and the errors are re-exported
here, the operations live in modules imported explicitly by the code that runs them.

- :mod:`shared.helm.spec` — :class:`HelmChart`, a Sveltos ``helmCharts`` entry, and the
  options Ripple honours (no Helm SDK needed: safe for validation anywhere).
- :mod:`shared.helm.errors` — :class:`HelmFailure` (retry) versus :class:`HelmTerminal`.
- :mod:`shared.helm.sdk` — ``install_or_upgrade``, ``uninstall``, ``apply``, ``status``,
  ``list_releases``: synchronous, for a worker thread.
- :mod:`shared.helm.releases` — the pure decisions: ownership labels, install / upgrade /
  nothing / recovery, manifest diffs, the result types.
- :mod:`shared.helm.sources` — chart resolution (HTTP repository index with semver
  constraints, ``oci://``, local directory or ``.tgz``) into a digest-checked cache.
- :mod:`shared.helm.native` — the calls into ``helm_python`` and the translation of its
  errors.
- :mod:`shared.helm.repository` — a loopback chart repository for demos and tests.
"""

from shared.helm.errors import HelmError, HelmFailure, HelmTerminal
from shared.helm.spec import HelmChart

__all__ = ["HelmChart", "HelmError", "HelmFailure", "HelmTerminal"]
