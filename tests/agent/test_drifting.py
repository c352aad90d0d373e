"""Drift detection: which live changes count as drift (pure)."""

from services.agent.drifting import drifted

DESIRED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "x", "namespace": "default", "labels": {"a": "1"}},
    "data": {"k": "v"},
}


def live(**changes: object) -> dict[str, object]:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "x",
            "namespace": "default",
            "labels": {"a": "1", "added-by-someone": "ok"},
            "resourceVersion": "7",
            "uid": "u",
        },
        "data": {"k": "v"},
    }
    obj.update(changes)
    return obj


def test_fields_added_by_others_are_not_drift() -> None:
    assert drifted(DESIRED, live()) == ""


def test_a_changed_desired_field_is_drift_and_named() -> None:
    assert drifted(DESIRED, live(data={"k": "other"})) == ".data.k"
    assert drifted(DESIRED, live(data={})) == ".data.k"


def test_list_length_matters() -> None:
    desired = {"spec": {"ports": [{"port": 80}]}}
    assert drifted(desired, {"spec": {"ports": [{"port": 80}, {"port": 81}]}}) == ".spec.ports"
    assert drifted(desired, {"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}) == ""
