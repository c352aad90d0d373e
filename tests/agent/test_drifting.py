"""Drift detection: which live changes count as drift (pure)."""

from services.agent.drifting import drifted

DESIRED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "x", "namespace": "default", "labels": {"a": "1"}},
    "data": {"k": "v"},
}


def live(**changes: object) -> dict[str, object]:
    """The object as the agent applied it for profile ``p`` (with its ownership stamp)."""
    from services.agent.ownership import stamp

    obj: dict[str, object] = stamp(
        {
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
        },
        "p",
    )
    obj.update(changes)
    return obj


def test_a_forged_ownership_in_the_manifest_is_no_drift() -> None:
    """The manifest claims another owner; the agent applied it with its own stamp: the
    live object as applied has not drifted (it would otherwise be re-applied forever)."""
    from services.agent.drifting import DriftIndex
    from shared.kube import ObjectKey
    from tests.agent.helpers import desired

    index = DriftIndex()
    index.track("p", [ObjectKey("v1", "ConfigMap", "default", "x")])
    meta = {**DESIRED["metadata"], "annotations": {"projectsveltos.io/owner-name": "other"}}
    want = desired("p", {**DESIRED, "metadata": meta})
    assert index.check("MODIFIED", live(), lambda _: want) is None


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


MANIFEST = """\
---
# Source: kyverno/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: r1-kyverno
data:
  timeout: "10"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: r1-reader
---
apiVersion: batch/v1
kind: Job
metadata:
  name: r1-hook
  annotations: {helm.sh/hook: post-install}
"""


def test_release_objects_are_read_from_the_manifest_in_the_release_namespace() -> None:
    from services.agent.releasing import release_objects
    from shared.kube import ObjectKey

    found = release_objects(("apps", "r1"), MANIFEST, lambda _v, kind: kind != "ClusterRole")
    assert set(found) == {
        ObjectKey("v1", "ConfigMap", "apps", "r1-kyverno"),
        ObjectKey("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r1-reader"),
    }, "hooks are left out"
    ref, manifest = found[ObjectKey("v1", "ConfigMap", "apps", "r1-kyverno")]
    assert ref == ("apps", "r1") and manifest["data"] == {"timeout": "10"}


def test_drift_of_a_release_object_forces_an_upgrade_of_that_release() -> None:
    from services.agent.drifting import DriftIndex
    from services.agent.planning import Apply, decide
    from services.agent.releasing import release_objects
    from shared.kube import GVK, ObjectKey
    from tests.agent.helpers import CLUSTER, chart, desired

    want = desired("p", DESIRED, charts=(chart("r1"), chart("r2")))
    index = DriftIndex()
    objects = release_objects(("apps", "r1"), MANIFEST, lambda _v, kind: kind != "ClusterRole")
    index.track("p", [ObjectKey("v1", "ConfigMap", "default", "x")], objects)
    assert GVK("v1", "ConfigMap") in index.kinds() and GVK("batch/v1", "Job") not in index.kinds()
    cm: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "r1-kyverno", "namespace": "apps", "labels": {"by": "helm"}},
        "data": {"timeout": "10"},
    }
    assert index.check("MODIFIED", cm, lambda _p: want) is None, "added fields are not drift"
    assert index.forced_of("p") == frozenset()
    drift = index.check("MODIFIED", {**cm, "data": {"timeout": "99"}}, lambda _p: want)
    assert drift is not None and (drift.profile, drift.where) == ("p", ".data.timeout")
    assert index.forced_of("p") == {("apps", "r1")}
    # the own objects drift as before, and force no release
    assert index.check("DELETED", live(), lambda _p: want) is not None
    assert index.forced_of("p") == {("apps", "r1")}

    action = decide(CLUSTER, "p", want, None, drifted=True, force=index.forced_of("p"))
    assert isinstance(action, Apply)
    assert [(s.name, s.force) for s in action.plan.charts] == [("r1", True), ("r2", False)]

    index.hold_releases("p")  # an apply under way: its own writes are not drift
    assert index.check("MODIFIED", {**cm, "data": {}}, lambda _p: want) is None
    assert index.check("MODIFIED", live(data={}), lambda _p: want) is not None, "objects still"
    index.repaired("p")
    assert index.forced_of("p") == frozenset()
    index.track("p", [], objects)
    gone = index.missing(GVK("rbac.authorization.k8s.io/v1", "ClusterRole"), [])
    assert [d.where for d in gone] == ["deleted"] and index.forced_of("p") == {("apps", "r1")}


# -- a known baseline (issue 15 item 9: edits before the drift informer's first list) ---------
def test_an_edit_right_after_the_first_apply_wrote_is_drift() -> None:
    """The objects of an apply are tracked before it writes them: an informer already
    running (another profile's, an EventSource's) may deliver an edit made right after the
    write while the apply is still under way. It used to be dropped (not tracked yet), and
    no later event came."""
    from services.agent.drifting import DriftIndex
    from shared.kube import ObjectKey
    from tests.agent.helpers import desired

    index = DriftIndex()
    want = desired("p", DESIRED)
    index.expect("p", [ObjectKey("v1", "ConfigMap", "default", "x")])
    assert index.check("MODIFIED", live(), lambda _p: want) is None, "the apply's own write"
    drift = index.check("MODIFIED", live(data={"k": "edited"}), lambda _p: want)
    assert drift is not None and (drift.profile, drift.where) == ("p", ".data.k")
    # expected objects add to what the profile holds; the apply's end replaces them
    index.track("q", [ObjectKey("v1", "ConfigMap", "default", "other")])
    index.expect("q", [ObjectKey("v1", "ConfigMap", "default", "y")])
    assert set(index.owner.values()) == {"p", "q"} and len(index.owner) == 3
    index.untrack("q")  # a failed apply: nothing of q is tracked
    assert set(index.owner) == {ObjectKey("v1", "ConfigMap", "default", "x")}


def test_a_complete_list_is_the_baseline_of_every_tracked_object() -> None:
    """After an informer's list, every tracked object it holds is judged against the latest
    desired state, whatever its events said before it was tracked."""
    from services.agent.drifting import DriftIndex
    from shared.kube import GVK, ObjectKey
    from tests.agent.helpers import desired

    index = DriftIndex()
    want = desired("p", DESIRED)
    index.track("p", [ObjectKey("v1", "ConfigMap", "default", "x")])
    edited = live(data={"k": "before-the-list"})
    untracked = {**live(), "metadata": {"name": "y", "namespace": "default"}}
    secret = {**edited, "kind": "Secret"}
    cm = GVK("v1", "ConfigMap")
    found = index.baseline(cm, [edited, untracked, secret], lambda _p: want)
    assert [(d.profile, d.key.name, d.where) for d in found] == [("p", "x", ".data.k")]
    assert index.baseline(cm, [live()], lambda _p: want) == [], "as applied"
    assert index.baseline(cm, [edited], lambda _p: None) == [], "not desired: no drift"
