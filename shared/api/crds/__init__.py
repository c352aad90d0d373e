"""CustomResourceDefinitions of the Sveltos kinds Ripple serves.

Generated from the models by :mod:`shared.api.crdgen` (``make crds``): the YAML files beside
this module are the full form (every version served, conversion through the webhook's
Service ``projectsveltos/ripple-conversion-webhook``); ``charts/ripple/crds/`` holds the form
without conversion and ``charts/ripple/templates/_crds.tpl`` the chart's webhook form.
``make check-crds`` fails when any of them is stale.

:func:`crd_documents` is what installers call (the simulated fleet, the scenario runner):

* ``crd_documents()``: without conversion (what a cluster gets without the webhook);
* ``crd_documents(Webhook(url=..., ca_bundle=...))``: conversion through the webhook at
  that URL (the embedded stack, which runs ``ripple conversion-webhook``), or at a Service.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from shared.api.crdgen import KINDS, Webhook, crds

__all__ = ["CRD_FILES", "Webhook", "crd_documents", "crd_for", "crd_texts", "write_chart_crds"]

#: the CRD files, in install order
CRD_FILES = tuple(k.file for k in KINDS)


def crd_texts() -> dict[str, str]:
    """File name -> YAML text of every CRD (the full form, conversion through the webhook)."""
    root = resources.files(__name__)
    return {name: root.joinpath(name).read_text(encoding="utf-8") for name in CRD_FILES}


@functools.lru_cache(maxsize=8)
def _documents(webhook: Webhook | None) -> tuple[dict[str, Any], ...]:
    return tuple(crds(webhook))


def crd_documents(webhook: Webhook | None = None) -> list[dict[str, Any]]:
    """Every CRD as a dict (apiextensions.k8s.io/v1), in install order.

    ``webhook=None``: no conversion; a kind whose versions differ serves its storage version
    only (EventSource keeps v1alpha1, both versions sharing one schema). With a
    :class:`Webhook`: every version served, converted by the webhook it names.
    """
    return copy.deepcopy(list(_documents(webhook)))


def crd_for(kind: str, webhook: Webhook | None = None) -> dict[str, Any]:
    """The CRD whose ``spec.names.kind`` is ``kind``; KeyError if none."""
    for doc in crd_documents(webhook):
        if doc["spec"]["names"]["kind"] == kind:
            return doc
    raise KeyError(kind)


def write_chart_crds(dest: str | Path) -> list[Path]:
    """Write the CRDs without conversion into ``dest`` (the form of ``charts/ripple/crds``);
    returns the written paths."""
    from shared.api.crdgen import dump

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, doc in zip(KINDS, crd_documents(), strict=True):
        target = dest / kind.file
        target.write_text(
            dump(
                doc, f"{kind.kind}: without conversion (templates/_crds.tpl has the webhook form)."
            )
        )
        written.append(target)
    return written


def load_text(text: str) -> dict[str, Any]:
    """One CRD file's text as a dict."""
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError("a CRD file must hold one object")
    return loaded
