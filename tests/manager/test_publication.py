"""The manager's publication rules, without servers (BRIEF section 7: stale or unknown is
never "no match"): what is put, held, kept for its removal grace, or withdrawn, before and
after a restart. State + Publication only; milliseconds."""

from __future__ import annotations

from typing import Any

from services.manager.model import ClusterInfo, ClusterKey, Report
from services.manager.outputs import ASSIGNMENTS, DESIRED, PROFILES, STATUS, Item, desired_key
from services.manager.planning import PolicyRefView, TriggerView
from services.manager.publication import (
    DELETE,
    HOLD,
    NOTHING,
    Publication,
    Published,
    Put,
    Unknown,
    Wait,
    pair_of_labels,
)
from services.manager.state import Changes, State
from shared.api.selectors import parse_selector

A = ClusterKey("default", "cluster-a", "sveltos")
B = ClusterKey("default", "cluster-b", "sveltos")

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: for-{{ .MatchingResource.Name }}
  namespace: default
"""


def cluster(key: ClusterKey) -> ClusterInfo:
    obj = {
        "apiVersion": key.api_version,
        "kind": key.kind,
        "metadata": {"name": key.name, "namespace": key.namespace, "labels": {"env": "fv"}},
    }
    return ClusterInfo(key, {"env": "fv"}, obj)


def service(name: str) -> dict[str, str]:
    return {"apiVersion": "v1", "kind": "Service", "namespace": "default", "name": name}


def new_state(template: str = TEMPLATE) -> State:
    state = State()
    for key in (A, B):
        state.set_cluster(cluster(key))
    state.set_event_source("svc", {"kind": "EventSource", "metadata": {"name": "svc"}})
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "tpl",
            "namespace": "default",
            "annotations": {"projectsveltos.io/instantiate": "ok"},
        },
        "data": {"policy.yaml": template},
    }
    state.set_ref("ConfigMap", "default", "tpl", configmap)
    state.set_trigger(
        TriggerView(
            kind="EventTrigger",
            name="t",
            source_selector=parse_selector("env=fv"),
            event_source_name="svc",
            one_for_event=True,
            policy_refs=(PolicyRefView("ConfigMap", "default", "tpl"),),
        )
    )
    return state


def report(state: State, key: ClusterKey, *names: str) -> None:
    state.set_report(Report(key, "svc", [service(n) for n in names]))


def unknown(state: State) -> Any:
    return lambda: Unknown(state.unknown_pairs(), state.failing_profiles())


def observe(pub: Publication, state: State, now: float = 0.0) -> set[Item]:
    return pub.observe(state.reconcile(), unknown(state), now)


def execute(pub: Publication, items: set[Item], now: float = 0.0) -> dict[Item, Any]:
    """Act as the publisher would: put what is wanted, delete what may go."""
    out: dict[Item, Any] = {}
    for item in items:
        decision = pub.decide(item, now)
        out[item] = decision
        if isinstance(decision, Put):
            pub.put_done(item, now)
        elif decision is DELETE:
            pub.deleted(item)
    return out


def desired_of(state: State, cluster: ClusterKey) -> set[str]:
    return {desired_key(c, p) for c, p in state.desired if c == cluster}


def restart(pub: Publication, state: State, grace: float = 0.0) -> Publication:
    """The Publication of a manager restarting with what ``pub`` published."""
    pairs = {}
    profiles = {}
    for (c, p), entry in state.desired.items():
        item = (DESIRED, desired_key(c, p))
        pairs[item] = pair_of_labels(dict(entry.labels))
        profiles[item] = p
    return Publication(grace, Published(pub.published, pairs, profiles))


def puts(result: dict[Item, Any], bucket: str = DESIRED) -> set[str]:
    return {k for (b, k), d in result.items() if b == bucket and isinstance(d, Put)}


def deletes(result: dict[Item, Any], bucket: str = DESIRED) -> set[str]:
    return {k for (b, k), d in result.items() if b == bucket and d is DELETE}


# -- steady state -------------------------------------------------------------------------------
def test_wanted_keys_are_put_and_withdrawn_when_the_event_goes() -> None:
    state, pub = new_state(), Publication()
    report(state, A, "s1", "s2")
    report(state, B)
    first = execute(pub, observe(pub, state))
    assert puts(first) == desired_of(state, A) and len(puts(first)) == 2
    assert puts(first, ASSIGNMENTS) and not deletes(first, ASSIGNMENTS)
    gone = desired_of(state, A)
    report(state, A, "s2")
    second = execute(pub, observe(pub, state))
    assert deletes(second) == gone - desired_of(state, A)
    assert not puts(second)


def test_not_wanted_and_not_published_is_nothing() -> None:
    pub = Publication()
    assert pub.decide((DESIRED, "default.sveltos--x.p"), 0.0) is NOTHING


def test_removal_grace_keeps_the_key_then_withdraws_it() -> None:
    state, pub = new_state(), Publication(removal_grace=5.0)
    report(state, A, "s1")
    report(state, B)
    execute(pub, observe(pub, state, now=0.0), now=0.0)
    (key,) = desired_of(state, A)
    report(state, A)
    dirty = observe(pub, state, now=10.0)
    assert pub.decide((DESIRED, key), 10.0) == Wait(5.0)
    assert execute(pub, dirty, now=14.9)[(DESIRED, key)] == Wait(5.0 - 4.9)
    assert pub.decide((DESIRED, key), 15.0) is DELETE


def test_an_event_back_within_its_grace_cancels_the_removal() -> None:
    state, pub = new_state(), Publication(removal_grace=5.0)
    report(state, A, "s1")
    report(state, B)
    execute(pub, observe(pub, state))
    (key,) = desired_of(state, A)
    report(state, A)
    execute(pub, observe(pub, state, now=1.0), now=1.0)
    report(state, A, "s1")
    again = execute(pub, observe(pub, state, now=2.0), now=2.0)
    assert isinstance(again[(DESIRED, key)], Put)
    assert pub.pending == {}
    assert pub.decide((DESIRED, key), 100.0) != DELETE


def test_a_put_finishing_after_its_key_went_starts_the_grace_then() -> None:
    pub = Publication(removal_grace=3.0)
    item = (DESIRED, "default.sveltos--cluster-a.p")
    pub.put_done(item, 7.0)  # the value was withdrawn while its put was in flight
    assert pub.decide(item, 8.0) == Wait(2.0)
    assert pub.decide(item, 10.0) is DELETE


# -- after a restart ---------------------------------------------------------------------------
def test_first_pass_withdraws_what_is_no_longer_wanted_on_positive_knowledge() -> None:
    state, pub = new_state(), Publication()
    report(state, A, "s1", "s2")
    report(state, B, "s3")
    execute(pub, observe(pub, state))
    before = desired_of(state, A)
    after_restart = new_state()
    report(after_restart, A, "s2")  # s1 went away while the manager was down
    report(after_restart, B, "s3")
    pub2 = restart(pub, state)
    result = execute(pub2, observe(pub2, after_restart))
    assert deletes(result) == before - desired_of(after_restart, A)
    assert len(deletes(result)) == 1
    assert pub2.held == set()


def test_a_pair_whose_report_is_unknown_after_a_restart_is_held_until_known() -> None:
    state, pub = new_state(), Publication()
    report(state, A, "s1")
    report(state, B, "s3")
    execute(pub, observe(pub, state))
    b_keys = desired_of(state, B)
    after = new_state()
    report(after, A, "s1")  # B's report has not arrived (agent dead, value unreadable)
    pub2 = restart(pub, state)
    result = execute(pub2, observe(pub2, after))
    assert not deletes(result)
    assert {k for _, k in pub2.held} == b_keys
    assert all(pub2.decide((DESIRED, k), 0.0) is HOLD for k in b_keys)
    execute(pub2, observe(pub2, after))  # later passes, still unknown: still held
    assert {k for _, k in pub2.held} == b_keys
    report(after, B)  # known at last: nothing matches there any more
    assert deletes(execute(pub2, observe(pub2, after))) == b_keys
    assert pub2.held == set()


def test_a_held_key_wanted_again_is_put_not_deleted() -> None:
    state, pub = new_state(), Publication()
    report(state, A)
    report(state, B, "s3")
    execute(pub, observe(pub, state))
    after = new_state()
    report(after, A)
    pub2 = restart(pub, state)
    execute(pub2, observe(pub2, after))
    report(after, B, "s3")
    result = execute(pub2, observe(pub2, after))
    assert puts(result) == desired_of(after, B) and not deletes(result)


def test_held_keys_go_when_their_cluster_stops_matching() -> None:
    state, pub = new_state(), Publication()
    report(state, A)
    report(state, B, "s3")
    execute(pub, observe(pub, state))
    b_keys = desired_of(state, B)
    after = new_state()
    report(after, A)
    pub2 = restart(pub, state)
    execute(pub2, observe(pub2, after))
    after.delete_cluster(B)  # positive knowledge: B is no longer registered
    assert deletes(execute(pub2, observe(pub2, after))) == b_keys


def test_a_key_without_labels_is_held_while_any_report_is_unknown() -> None:
    key = "default.sveltos--cluster-b.unreadable"
    pub = Publication(0.0, Published({DESIRED: {key}}, {(DESIRED, key): None}))
    state = new_state()
    report(state, A)
    execute(pub, observe(pub, state))
    assert pub.decide((DESIRED, key), 0.0) is HOLD
    report(state, B)
    assert deletes(execute(pub, observe(pub, state))) == {key}


def test_the_grace_period_is_counted_again_from_a_restart() -> None:
    state, pub = new_state(), Publication(removal_grace=30.0)
    report(state, A, "s1")
    report(state, B)
    execute(pub, observe(pub, state))
    after = new_state()
    report(after, A)
    report(after, B)
    pub2 = restart(pub, state, grace=30.0)
    result = execute(pub2, observe(pub2, after, now=100.0), now=100.0)
    (key,) = desired_of(state, A)
    assert result[(DESIRED, key)] == Wait(30.0)
    assert pub2.decide((DESIRED, key), 129.0) != DELETE
    assert pub2.decide((DESIRED, key), 130.0) is DELETE


def test_a_profile_failing_to_instantiate_after_a_restart_is_held() -> None:
    state, pub = new_state(), Publication()
    report(state, A, "s1")
    report(state, B)
    execute(pub, observe(pub, state))
    (key,) = desired_of(state, A)
    broken = new_state(template="{{ .MatchingResource.nope.deeper }}")
    report(broken, A, "s1")
    report(broken, B)
    pub2 = restart(pub, state)
    result = execute(pub2, observe(pub2, broken))
    assert not deletes(result) and pub2.decide((DESIRED, key), 0.0) is HOLD
    broken.set_report(Report(A, "svc", []))  # the event went away: positive knowledge
    assert deletes(execute(pub2, observe(pub2, broken))) == {key}


def test_first_pass_withdraws_stale_assignments_statuses_and_profiles() -> None:
    published = {
        ASSIGNMENTS: {"default.sveltos--gone.svc"},
        STATUS: {"eventtrigger.gone"},
        PROFILES: {"default.sveltos--cluster-a.sveltos-gone"},
    }
    pairs = {(PROFILES, "default.sveltos--cluster-a.sveltos-gone"): ("gone", A)}
    pub = Publication(0.0, Published(published, pairs))
    state = new_state()
    report(state, A)
    report(state, B)
    dirty = pub.observe(state.reconcile(), unknown(state), 0.0, statuses={})
    result = execute(pub, dirty)
    assert {item for item, d in result.items() if d is DELETE} == {
        (b, k) for b, keys in published.items() for k in keys
    }


def test_statuses_put_when_changed_and_deleted_when_gone() -> None:
    pub = Publication()
    first = pub.observe(Changes(), lambda: Unknown(), 0.0, statuses={"eventtrigger.t": "v1"})
    assert execute(pub, first) == {(STATUS, "eventtrigger.t"): Put("v1")}
    assert (
        pub.observe(Changes(), lambda: Unknown(), 0.0, statuses={"eventtrigger.t": "v1"}) == set()
    )
    gone = pub.observe(Changes(), lambda: Unknown(), 0.0, statuses={})
    assert execute(pub, gone) == {(STATUS, "eventtrigger.t"): DELETE}


def test_owners_name_the_trigger_of_desired_states_and_profiles() -> None:
    state, pub = new_state(), Publication()
    report(state, A, "s1")
    report(state, B)
    dirty = observe(pub, state)
    owners = {pub.owner(item) for item in dirty if item[0] in (DESIRED, PROFILES)}
    assert owners == {("EventTrigger", "t")}
    assert {pub.owner(i) for i in dirty if i[0] == ASSIGNMENTS} == {("EventSource", "svc")}
