"""The manager and ``ripple render`` read the template flavour as shared.templating does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from services.cli import app
from services.manager import rendering
from services.manager.errors import InstantiationError
from shared.api.vocabulary import FLAVOUR_ANNOTATION
from shared.templating import flavour_of

# plain text for Go (no actions), a conditional for Jinja: the name tells the flavour used
TEMPLATE = (
    "apiVersion: v1\nkind: ConfigMap\n"
    'metadata:\n  name: "{% if true %}jinja{% else %}x{% endif %}"\n'
)
ANNOTATIONS: dict[str, str | None] = {
    "absent": None,
    "go": "go",
    "jinja": "jinja",
    "Jinja2": "Jinja2",
    "blanks": " jinja ",
    "upper": "JINJA",
    "empty": "",
    "unknown": "mustache",
}


def _configmap(annotation: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "tpl", "namespace": "default"}
    if annotation is not None:
        meta["annotations"] = {FLAVOUR_ANNOTATION: annotation}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"t.yaml": TEMPLATE}}


def _flavour_from_name(name: str) -> str:
    return "jinja" if name == "jinja" else "go"


def _manager(cm: dict[str, Any]) -> str:
    try:
        manifests, _ = rendering.instantiate(cm, {}, render=True)
    except InstantiationError:
        return "error"
    return _flavour_from_name(manifests[0]["metadata"]["name"])


def _cli(cm: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump(cm))
    result = CliRunner().invoke(app, ["render", str(path)])
    if result.exit_code != 0:
        return "error"
    return _flavour_from_name(yaml.safe_load(result.output)["metadata"]["name"])


def _shared(cm: dict[str, Any]) -> str:
    try:
        return flavour_of(cm["metadata"].get("annotations"))
    except ValueError:
        return "error"


@pytest.mark.parametrize("annotation", ANNOTATIONS.values(), ids=ANNOTATIONS.keys())
def test_same_configmap_same_flavour_in_manager_and_render(
    annotation: str | None, tmp_path: Path
) -> None:
    cm = _configmap(annotation)
    expected = _shared(cm)
    assert _manager(cm) == expected
    assert _cli(cm, tmp_path) == expected


def test_unknown_flavour_names_the_object() -> None:
    with pytest.raises(InstantiationError, match=r"ConfigMap/default/tpl: .*mustache"):
        rendering.template_flavour(_configmap("mustache"))
