"""Reading a scenario's files: YAML documents and Kubernetes objects, with errors that name
the file (and, for a syntax error, the line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.scenario.errors import ScenarioError


def read_yaml(path: Path, *, every: bool = False) -> Any:
    """One YAML document (``every``: the list of all of them); :class:`ScenarioError` with the
    line on a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
        return list(yaml.safe_load_all(text)) if every else yaml.safe_load(text)
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path}: invalid YAML: {err}") from None


def read_objects(path: Path) -> list[dict[str, Any]]:
    """Every Kubernetes object of a (multi-document) YAML file, empty documents skipped."""
    docs = read_yaml(path, every=True)
    objects = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ScenarioError(f"{path}: document {i + 1} is not a mapping")
        meta = doc.get("metadata")
        if not doc.get("apiVersion") or not doc.get("kind") or not isinstance(meta, dict):
            raise ScenarioError(
                f"{path}: document {i + 1} needs apiVersion, kind and metadata.name"
            )
        if not meta.get("name"):
            raise ScenarioError(f"{path}: document {i + 1}: metadata.name is missing")
        objects.append(doc)
    return objects


def yaml_files(directory: Path) -> list[Path]:
    """``*.yaml``/``*.yml`` of a directory, sorted; empty when it does not exist."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
