"""The spec's three templates render to the scenarios' expected objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.templating import render_event_template
from tests.paths import SCENARIOS


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _template(scenario: str, configmap: str) -> str:
    cm = _load(SCENARIOS / scenario / "management" / configmap)
    (text,) = cm["data"].values()
    return str(text)


def _subset(expected: Any, actual: Any, path: str = "") -> None:
    """Every field of ``expected`` equals ``actual``'s; lists have the same length.

    Labels/annotations the deployer adds (``projectsveltos.io/...``) are not the template's.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: not a map: {actual!r}"
        for key, value in expected.items():
            if path.endswith(("metadata.labels", "metadata.annotations")) and str(key).startswith(
                "projectsveltos.io/"
            ):
                continue
            if path == "metadata" and key in ("labels", "annotations") and key not in actual:
                assert all(str(k).startswith("projectsveltos.io/") for k in value), path
                continue
            assert key in actual, f"{path}.{key}: missing in {actual!r}"
            _subset(value, actual[key], f"{path}.{key}" if path else str(key))
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _subset(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: {actual!r} != {expected!r}"


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "namespace": obj["metadata"].get("namespace", ""),
        "name": obj["metadata"]["name"],
    }


@pytest.mark.parametrize(
    ("scenario", "configmap", "service", "expected"),
    [
        (
            "01-network-policy-per-service",
            "configmap-network-policy.yaml",
            "my-service.yaml",
            "front-my-service.yaml",
        ),
        (
            "01-network-policy-per-service",
            "configmap-network-policy.yaml",
            "another-service.yaml",
            "front-another-service.yaml",
        ),
        (
            "03-httproute-per-service",
            "configmap-http-routes.yaml",
            "my-service.yaml",
            "route-my-service.yaml",
        ),
        (
            "03-httproute-per-service",
            "configmap-http-routes.yaml",
            "my-service-2.yaml",
            "route-my-service-2.yaml",
        ),
        (
            "03-httproute-per-service",
            "configmap-http-routes.yaml",
            "my-service-relabelled.yaml",
            "route-my-service-relabelled.yaml",
        ),
    ],
)
def test_one_for_event_templates(
    scenario: str, configmap: str, service: str, expected: str
) -> None:
    resource = _load(SCENARIOS / scenario / "cluster" / service)
    out = render_event_template(
        _template(scenario, configmap),
        {"Resource": resource, "MatchingResource": _ref(resource), "Cluster": {}},
    )
    _subset(_load(SCENARIOS / scenario / "expect" / expected), yaml.safe_load(out))


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        (["my-service.yaml", "my-service-2.yaml"], "ingress-two-paths.yaml"),
        (["my-service-2.yaml"], "ingress-one-path.yaml"),
    ],
)
def test_ingress_for_all_https_services(services: list[str], expected: str) -> None:
    scenario = "02-one-ingress-for-all-https-services"
    resources = [_load(SCENARIOS / scenario / "cluster" / s) for s in services]
    out = render_event_template(
        _template(scenario, "configmap-ingress.yaml"),
        {"Resources": resources, "MatchingResources": [_ref(r) for r in resources]},
    )
    _subset(_load(SCENARIOS / scenario / "expect" / expected), yaml.safe_load(out))


def test_ingress_template_needs_integer_ports() -> None:
    """`eq .port 443` works because integers stay integers (Sveltos: float64, an error)."""
    scenario = "02-one-ingress-for-all-https-services"
    resource = _load(SCENARIOS / scenario / "cluster" / "my-service.yaml")
    out = render_event_template(
        _template(scenario, "configmap-ingress.yaml"), {"Resources": [resource]}
    )
    assert "number: 443" in out
