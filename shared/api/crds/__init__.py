"""CustomResourceDefinitions of the Sveltos kinds Ripple serves (ONE source of truth).

The YAML files beside this module are package data; :func:`crd_documents` loads them for the
simulated fleet and the scenario runner. ``charts/ripple/crds/`` is a generated copy
(:func:`write_chart_crds`); a test checks that it is up to date.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

#: the CRD files, in install order
CRD_FILES = (
    "eventsources.yaml",
    "eventbasedaddons.yaml",
    "eventtriggers.yaml",
    "eventreports.yaml",
    "sveltosclusters.yaml",
    "clusterprofiles.yaml",
)


def crd_texts() -> dict[str, str]:
    """File name -> YAML text of every CRD."""
    root = resources.files(__name__)
    return {name: root.joinpath(name).read_text(encoding="utf-8") for name in CRD_FILES}


def crd_documents() -> list[dict[str, Any]]:
    """Every CRD as a dict (apiextensions.k8s.io/v1 CustomResourceDefinition)."""
    docs: list[dict[str, Any]] = []
    for text in crd_texts().values():
        loaded = yaml.safe_load(text)
        if not isinstance(loaded, dict):
            raise ValueError("a CRD file must hold one object")
        docs.append(loaded)
    return docs


def crd_for(kind: str) -> dict[str, Any]:
    """The CRD whose ``spec.names.kind`` is ``kind``; KeyError if none."""
    for doc in crd_documents():
        if doc["spec"]["names"]["kind"] == kind:
            return doc
    raise KeyError(kind)


def write_chart_crds(dest: str | Path) -> list[Path]:
    """Copy the CRD files into ``dest`` (``charts/ripple/crds``); returns the written paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = resources.files(__name__)
    written = []
    for name in CRD_FILES:
        target = dest / name
        with resources.as_file(root.joinpath(name)) as src:
            shutil.copyfile(src, target)
        written.append(target)
    return written
