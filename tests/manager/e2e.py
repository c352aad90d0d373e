"""What the manager's end-to-end tests share: a collecting EventSource on labelled Services
and a stack of one managed cluster ``default/c1`` (labelled ``env: test``) whose management
cluster holds the given definitions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from services.scenario.stack import Stack


def service_source(name: str, key: str, value: str) -> dict[str, Any]:
    """An EventSource collecting the Services labelled ``key=value``."""
    selector = {
        "group": "",
        "version": "v1",
        "kind": "Service",
        "labelFilters": [{"key": key, "operation": "Equal", "value": value}],
    }
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventSource",
        "metadata": {"name": name},
        "spec": {"collectResources": True, "resourceSelectors": [selector]},
    }


@contextlib.contextmanager
def one_cluster_stack(
    root: Path, definitions: list[dict[str, Any]], **options: Any
) -> Iterator[Stack]:
    """The stack (``options``: more :class:`Stack` arguments) with ``definitions`` applied."""
    fleet = {"clusters": [{"namespace": "default", "name": "c1", "labels": {"env": "test"}}]}
    (root / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    management = root / "management"
    management.mkdir()
    (management / "defs.yaml").write_text(yaml.safe_dump_all(definitions))
    with Stack(root / "fleet.yaml", management, state_dir=root / "state", **options) as stack:
        yield stack
