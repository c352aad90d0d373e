"""Drift detection: which live changes count as drift (pure)."""

from services.agent.drifting import drifted

DESIRED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "x", "namespace": "default", "labels": {"a": "1"}},
    "data": {"k": "v"},
}


def live(**changes: object) -> dict[str, object]:
    obj: dict[str, object] = {
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


def test_the_drift_index_names_the_profile_to_apply_again() -> None:
    from services.agent.drifting import DriftIndex
    from shared.contract import messages as m
    from shared.kube import GVK, ObjectKey
    from tests.agent.helpers import desired

    index = DriftIndex()
    key = ObjectKey("v1", "ConfigMap", "default", "x")
    index.track("p", [key])
    assert index.kinds() == {GVK("v1", "ConfigMap")}
    want = desired("p", DESIRED)

    def wanted(profile: str) -> m.DesiredState | None:
        return want if profile == "p" else None

    def nothing(profile: str) -> m.DesiredState | None:
        return None

    assert index.check("MODIFIED", live(), wanted) is None
    drift = index.check("MODIFIED", live(data={"k": "other"}), wanted)
    assert drift is not None and (drift.profile, drift.where) == ("p", ".data.k")
    assert index.check("DELETED", live(), wanted) is not None
    assert index.check("ADDED", live(), wanted) is None
    assert index.check("ADDED", live(data={}), wanted) is not None, "drifted before listed"
    assert index.missing(GVK("v1", "ConfigMap"), [key]) == []
    gone = index.missing(GVK("v1", "ConfigMap"), [])
    assert [(d.profile, d.where) for d in gone] == [("p", "deleted")]
    assert index.missing(GVK("v1", "Secret"), []) == []
    assert index.check("MODIFIED", live(data={}), nothing) is None, "not desired: no drift"
    index.untrack("p")
    assert index.check("DELETED", live(), wanted) is None and index.kinds() == set()
