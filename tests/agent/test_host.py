"""The agent host's pure parts: the clusters file entry by entry, what to start/stop/restart,
the restart backoff, the settings of a hosted agent, the kubeconfig Secret a registered
cluster names (Sveltos' conventions)."""

from __future__ import annotations

import json

import pytest

from services.agent import hostfile
from services.agent.hostplan import Backoffs, RestartPolicy, plan
from services.agent.hostsettings import HostSettings
from services.agent.mgmtsource import kubeconfig_ref, pick_key
from shared.runtime.errors import InvalidSetting
from shared.runtime.settings import load

GOOD = """
clusters:
  - cluster: default/c1
    kubeconfig: /k/c1
    natsUser: agent-c1
    natsPassword: secret
  - cluster: prod/c2
    type: capi
    kubeconfig: c2.kubeconfig
    natsUser: agent-c2
    natsPasswordFile: pw/c2
  - cluster: default/c3
    kubeconfig: /k/c3
"""


def test_a_valid_file_gives_every_cluster_with_paths_relative_to_the_file() -> None:
    parsed = hostfile.parse(GOOD, "clusters.yaml", "/etc/ripple")
    assert not parsed.errors and not parsed.failed
    assert sorted(parsed.entries) == ["capi:prod/c2", "sveltos:default/c1", "sveltos:default/c3"]
    c2 = parsed.entries["capi:prod/c2"]
    assert c2.kubeconfig == "/etc/ripple/c2.kubeconfig"
    assert c2.nats_password_file == "/etc/ripple/pw/c2"
    assert parsed.entries["sveltos:default/c1"].kubeconfig == "/k/c1"


def test_json_is_accepted() -> None:
    text = json.dumps({"clusters": [{"cluster": "a/b", "kubeconfig": "/k"}]})
    assert list(hostfile.parse(text, "c.json").entries) == ["sveltos:a/b"]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"kubeconfig": "/k"}, "clusters[1]: cluster: Field required"),
        ({"cluster": "nons", "kubeconfig": "/k"}, "clusters[1] (nons): cluster: 'nons' is not"),
        ({"cluster": "a/x"}, "clusters[1] (a/x): kubeconfig: Field required"),
        ({"cluster": "a/x", "kubeconfig": "/k", "type": "gke"}, "(a/x): type: Input should be"),
        ({"cluster": "a/x", "kubeconfig": "/k", "natsUser": "u"}, "natsUser needs natsPassword"),
        (
            {"cluster": "a/x", "kubeconfig": "/k", "natsPassword": "p"},
            "natsPassword/natsPasswordFile given without natsUser",
        ),
        (
            {
                "cluster": "a/x",
                "kubeconfig": "/k",
                "natsUser": "u",
                "natsPassword": "p",
                "natsPasswordFile": "/f",
            },
            "give one of them",
        ),
        ({"cluster": "a/x", "kubeconfig": "/k", "color": "red"}, "color: Extra inputs"),
        ("just a string", "clusters[1]: expected a mapping, got str"),
    ],
)
def test_a_bad_entry_is_named_and_the_others_still_run(entry: object, says: str) -> None:
    document = {"clusters": [{"cluster": "ok/one", "kubeconfig": "/k"}, entry]}
    parsed = hostfile.parse(json.dumps(document), "clusters.yaml")
    assert list(parsed.entries) == ["sveltos:ok/one"]
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith("clusters.yaml: clusters[1]")
    assert says in parsed.errors[0], parsed.errors[0]


def test_an_invalid_entry_of_a_running_cluster_keeps_it() -> None:
    document = {"clusters": [{"cluster": "a/x", "kubeconfig": "/k", "natsUser": "u"}]}
    parsed = hostfile.parse(json.dumps(document), "f")
    assert parsed.invalid == {"sveltos:a/x"}
    todo = plan({}, {"sveltos:a/x": "config"}, parsed.invalid)
    assert not todo  # stale is not "gone": its agent keeps running


def test_a_cluster_listed_twice_is_an_error_of_the_second() -> None:
    document = {"clusters": [{"cluster": "a/x", "kubeconfig": "/k"}] * 2}
    parsed = hostfile.parse(json.dumps(document), "f")
    assert list(parsed.entries) == ["sveltos:a/x"]
    assert parsed.errors == ["f: clusters[1] (sveltos:a/x): listed twice"]


@pytest.mark.parametrize("text", ["clusters: [", "clusters: 3", "- a\n- b"])
def test_a_file_that_cannot_be_read_as_a_whole_changes_nothing(text: str) -> None:
    parsed = hostfile.parse(text, "clusters.yaml")
    assert parsed.failed and parsed.errors[0].startswith("clusters.yaml:")


def test_an_empty_file_lists_no_cluster() -> None:
    parsed = hostfile.parse("", "f")
    assert not parsed.failed and not parsed.entries


def test_plan_starts_stops_and_restarts() -> None:
    todo = plan({"a": 1, "b": 2, "c": 3}, {"b": 2, "c": 30, "d": 4})
    assert (todo.start, todo.stop, todo.restart) == (["a"], ["d"], ["c"])
    assert not plan({"a": 1}, {"a": 1})


def test_restart_backoff_doubles_to_its_cap_and_resets_after_a_stable_run() -> None:
    policy = RestartPolicy(base=1.0, cap=60.0, stable=60.0)
    assert [policy.delay(n, 0.999999) for n in (1, 2, 3, 7, 8, 50)] == pytest.approx(
        [1, 2, 4, 60, 60, 60], rel=1e-5
    )
    assert policy.delay(3, 0.0) == 2.0  # jitter: [d/2, d]
    backoffs = Backoffs(policy)
    assert backoffs.failed("a", ran_for=0.5, rand=0.999999) == pytest.approx(1, rel=1e-5)
    assert backoffs.failed("a", ran_for=0.5, rand=0.999999) == pytest.approx(2, rel=1e-5)
    assert backoffs.failed("b", ran_for=0.5, rand=0.999999) == pytest.approx(1, rel=1e-5)
    assert backoffs.failed("a", ran_for=300, rand=0.999999) == pytest.approx(1, rel=1e-5)


def test_a_hosted_agent_gets_the_hosts_settings_and_its_own_identity() -> None:
    host = HostSettings(
        clusters="/f",
        nats_url="nats://n:4222",
        nats_user="host",
        nats_password="hostpw",
        workers=3,
        metrics_port=9000,
        ready_file="/ready",
    )
    entry, _ = hostfile.parse_entry(
        {
            "cluster": "ns/c",
            "type": "capi",
            "kubeconfig": "/k",
            "natsUser": "agent-c",
            "natsPassword": "x",
        },
        "f",
    )
    assert entry is not None
    settings = host.agent_settings(entry, "pw")
    assert settings.cluster_ref.type == "capi" and settings.cluster == "ns/c"
    assert settings.nats_user == "agent-c"
    assert settings.nats_password is not None
    assert settings.nats_password.get_secret_value() == "pw"
    assert settings.nats_url == "nats://n:4222" and settings.workers == 3
    assert settings.metrics_port is None and settings.ready_file is None
    anonymous, _ = hostfile.parse_entry({"cluster": "ns/d", "kubeconfig": "/k"}, "f")
    assert anonymous is not None
    assert host.agent_settings(anonymous).nats_user == "host"  # none of its own


def test_the_host_needs_one_source_of_clusters() -> None:
    with pytest.raises(InvalidSetting, match="--clusters FILE or --from-management"):
        load(HostSettings)
    with pytest.raises(InvalidSetting, match="one of them"):
        load(HostSettings, clusters="/f", from_management=True)


def test_kubeconfig_secrets_as_sveltos_and_capi_name_them() -> None:
    sveltos = {"metadata": {"name": "c1", "namespace": "ns"}, "spec": {}}
    assert kubeconfig_ref(sveltos, "sveltos") == ("c1-sveltos-kubeconfig", "")
    named = {"metadata": {"name": "c1"}, "spec": {"kubeconfigName": "s", "kubeconfigKeyName": "k"}}
    assert kubeconfig_ref(named, "sveltos") == ("s", "k")
    assert kubeconfig_ref(sveltos, "capi") == ("c1-kubeconfig", "value")
    assert pick_key({"only": "x"}) == "only"
    assert pick_key({"b": "", "value": "", "kubeconfig": ""}) == "kubeconfig"
    assert pick_key({"z": "", "a": ""}) == "a"
    assert pick_key({}) is None
