"""The one list of what Ripple does with each trigger field (shared/api/support.py)."""

from __future__ import annotations

from typing import Any

from shared.api import support
from shared.api.clusterprofile import ClusterProfileSpec
from shared.api.eventtrigger import EventBasedAddOnSpec, EventTriggerSpec


def aliases(model: Any) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def test_every_field_the_models_accept_is_supported_or_listed_as_not() -> None:
    listed = set(support.SUPPORTED) | set(support.NOT_SUPPORTED)
    assert not set(support.SUPPORTED) & set(support.NOT_SUPPORTED)
    for model in (EventTriggerSpec, EventBasedAddOnSpec, ClusterProfileSpec):
        missing = aliases(model) - listed
        assert not missing, f"{model.__name__}: say what Ripple does with {sorted(missing)}"


def trigger(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "EventTrigger", "spec": spec}


def test_each_unsupported_field_used_is_named_with_what_happens_instead() -> None:
    obj = trigger(**{name: ["x"] for name in support.NOT_SUPPORTED})
    found = support.unsupported_messages(obj)
    assert len(found) == len(support.NOT_SUPPORTED)
    assert "spec.patchesFrom: accepted, not supported by Ripple: dropped, as Sveltos'" in "\n".join(
        found
    )


def test_defaults_and_supported_fields_are_not_reported() -> None:
    obj = trigger(
        continueOnError=False,
        dependsOn=[],
        maxUpdate=None,
        tier=100,
        extraLabels={"a": "b"},
        patches=[{"patch": "x"}],
        policyRefs=[{"kind": "ConfigMap", "name": "a", "deploymentType": "Local"}],
    )
    assert support.unsupported_fields(obj) == []


def test_flux_sources_and_paths() -> None:
    obj = trigger(
        policyRefs=[
            {"kind": "Bucket", "name": "b"},
            {"kind": "ConfigMap", "name": "c", "path": "sub"},
        ],
        kustomizationRefs=[{"kind": "OCIRepository", "name": "o"}, {"kind": "Secret", "name": "s"}],
    )
    assert [u.field for u in support.unsupported_fields(obj)] == [
        "spec.policyRefs[0].kind",
        "spec.policyRefs[1].path",
        "spec.kustomizationRefs[0].kind",
    ]


def test_other_kinds_and_bad_specs_give_nothing() -> None:
    assert support.unsupported_fields({"kind": "EventSource", "spec": {"dependsOn": ["x"]}}) == []
    assert support.unsupported_fields({"kind": "EventTrigger", "spec": []}) == []


def test_docs_lint_lists_every_field_not_supported() -> None:
    from tests.paths import REPO

    text = (REPO / "docs" / "lint.md").read_text()
    missing = [
        name for name in support.NOT_SUPPORTED if name != "setRefs" and f"`{name}`" not in text
    ]
    assert not missing, f"docs/lint.md: add {missing}"
