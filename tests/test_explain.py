"""``ripple explain``: offline on every scenario of ../shared/scenarios and examples/story (a
matching object: verdict, message, profile names, destinations and deployed objects as the
scenario's expect/ shows them; a non-matching one: the filter that refused it), and on the
running system through the manager's REST API (apply outcome, the converse)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from services.cli import app
from services.manager import naming
from services.manager.model import ClusterKey
from services.scenario.stack import Stack
from tests.integration.helpers import eventually
from tests.paths import REPO, SCENARIOS

STORY = REPO / "examples" / "story"
S01 = SCENARIOS / "01-network-policy-per-service"


def run(*argv: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["explain", *argv, "-o", "json"])
    assert result.exit_code in (0, 1, 4), result.output
    return result.exit_code, json.loads(result.stdout)


def ident(path: Path) -> str:
    obj = yaml.safe_load(path.read_text())
    meta = obj["metadata"]
    return f"{obj['apiVersion']}/{obj['kind']} {meta.get('namespace', 'default')}/{meta['name']}"


def with_changes(tmp: Path, source: Path, change: dict[str, Any]) -> Path:
    """A copy of ``source``'s object with ``change`` merged into it (one level deep)."""
    obj = yaml.safe_load(source.read_text())
    for key, value in change.items():
        obj[key] = {**obj.get(key, {}), **value} if isinstance(value, dict) else value
    out = tmp / source.name
    out.write_text(yaml.safe_dump(obj))
    return out


def profile_name(kind: str, trigger: str, cluster: str, es: str, resource: Path | None) -> str:
    """The name the manager gives (its naming code, from the identifying labels)."""
    ns, name = cluster.split("/")
    res = None
    if resource is not None:
        meta = yaml.safe_load(resource.read_text())["metadata"]
        res = {"name": meta["name"], "namespace": meta.get("namespace", "")}
    return naming.profile_name(
        naming.profile_labels(kind, trigger, ClusterKey(ns, name), es, resource=res)
    )


# scenario, cluster, object, {trigger: (EventSource, oneForEvent, destination, expect files)}
MATCHING = [
    (
        SCENARIOS / "01-network-policy-per-service",
        "default/cluster-a",
        "cluster/my-service.yaml",
        {"service-network-policy": ("sveltos-service", True, "cluster-a", ["front-my-service"])},
    ),
    (
        SCENARIOS / "01b-network-policy-per-service-lua",
        "default/cluster-a",
        "cluster/another-service.yaml",
        {
            "service-network-policy": (
                "sveltos-service",
                True,
                "cluster-a",
                ["front-another-service"],
            )
        },
    ),
    (
        SCENARIOS / "02-one-ingress-for-all-https-services",
        "default/cluster-a",
        "cluster/my-service.yaml",
        {"ingress-configuration": ("https-service", False, "cluster-a", ["ingress-two-paths"])},
    ),
    (
        SCENARIOS / "03-httproute-per-service",
        "default/cluster-a",
        "cluster/my-service-2.yaml",
        {"service-http-routes": ("eng-http-service", True, "cluster-a", ["route-my-service-2"])},
    ),
    (
        SCENARIOS / "04-matching-resources-without-collection",
        "default/cluster-a",
        "cluster/deploy-api.yaml",
        {
            "per-deployment-quota": ("team-deployments", True, "cluster-a", ["quota-api"]),
            "deployment-inventory": ("team-deployments", False, "cluster-a", ["inventory-both"]),
        },
    ),
    (
        SCENARIOS / "05-cross-cluster-v1beta1",
        "default/cluster-b",
        "cluster/billing.yaml",
        {"export-services-to-hub": ("exported-services", True, "hub", ["hub-cluster-b-billing"])},
    ),
    (
        STORY,
        "default/cluster-a",
        "cluster/eng-my-service.yaml",
        {
            "service-http-routes": ("eng-http-service", True, "cluster-a", ["route-my-service"]),
            "ingress-configuration": ("https-service", False, "cluster-a", ["ingress-my-service"]),
        },
    ),
]


@pytest.mark.parametrize(
    ("scenario", "cluster", "file", "wanted"), MATCHING, ids=[m[0].name for m in MATCHING]
)
def test_offline_a_matching_object(
    scenario: Path, cluster: str, file: str, wanted: dict[str, Any]
) -> None:
    code, answer = run(file, "--cluster", cluster, "--offline", str(scenario))
    assert (code, answer["verdict"], answer["mode"]) == (0, "fires", "offline")
    blocks = {b["trigger"]: b for b in answer["triggers"]}
    for trigger, (es, one_for_event, dest, expected) in wanted.items():
        block = blocks[trigger]
        assert block["verdict"] == "fires", block
        assert block["evaluation"]["verdict"] == "match"
        assert block["evaluation"]["message"]
        assert block["clusterSelected"] and "selects it" in block["clusterReason"]
        [instance] = block["instances"]
        resource = scenario / file if one_for_event else None
        assert instance["profile"] == profile_name(block["kind"], trigger, cluster, es, resource)
        assert instance["destinations"] == [f"sveltos:default/{dest}"]
        for name in expected:
            assert ident(scenario / "expect" / f"{name}.yaml") in instance["objects"]
        assert not instance["error"]


def test_offline_non_matching_objects_name_what_refused_them(tmp_path: Path) -> None:
    s01b = SCENARIOS / "01b-network-policy-per-service-lua"
    s02 = SCENARIOS / "02-one-ingress-for-all-https-services"
    s03 = SCENARIOS / "03-httproute-per-service"
    s04 = SCENARIOS / "04-matching-resources-without-collection"
    s05 = SCENARIOS / "05-cross-cluster-v1beta1"
    https_only = {"spec": {"ports": [{"port": 443, "protocol": "TCP"}]}}
    other_team = {"metadata": {"name": "api", "namespace": "default", "labels": {"team": "x"}}}
    cases = [
        (S01, "default/cluster-a", S01 / "cluster/unlabelled-service.yaml",
         "labelFilter sveltos Equal 'fv': label 'sveltos' is absent"),
        (s01b, "default/cluster-a", s01b / "cluster/unlabelled-service.yaml",
         "the Lua script returned matching = false"),
        (s02, "default/cluster-a", s02 / "cluster/other-namespace-service.yaml",
         "namespace 'default' is not 'eng'"),
        (s03, "default/cluster-a",
         with_changes(tmp_path, s03 / "cluster/my-service.yaml", https_only),
         "the Lua script returned matching = false"),
        (s04, "default/cluster-a",
         with_changes(tmp_path, s04 / "cluster/deploy-api.yaml", other_team),
         "labelFilter team Equal 'payments': label 'team' is 'x'"),
        (s05, "default/hub", s05 / "cluster/billing.yaml",
         "sourceClusterSelector 'env=fv' does not select it"),
        (STORY, "default/cluster-a", STORY / "cluster/namespace-eng.yaml", None),
    ]  # fmt: skip
    for scenario, cluster, file, refusal in cases:
        code, answer = run(str(file), "--cluster", cluster, "--offline", str(scenario))
        assert (code, answer["verdict"]) == (1, "does not fire"), (scenario.name, answer)
        if refusal is None:  # no EventSource of the story watches Namespaces
            assert answer["triggers"] == [] and "no trigger concerns it" in answer["summary"]
            continue
        reasons = [b["reason"] for b in answer["triggers"]]
        assert any(refusal in r for r in reasons), (scenario.name, reasons)
        assert all(not b["instances"] for b in answer["triggers"])


def test_offline_text_output_and_the_converse() -> None:
    result = CliRunner().invoke(
        app,
        ["explain", "cluster/my-service.yaml", "-c", "default/cluster-a", "--offline", str(S01)],
    )
    assert result.exit_code == 0
    first, *_ = result.stdout.splitlines()
    assert first.startswith("VERDICT: FIRES - fires service-network-policy")
    code, answer = run(
        "--deployed",
        "expect/front-my-service.yaml",
        "-c",
        "default/cluster-a",
        "--offline",
        str(S01),
    )
    assert (code, answer["verdict"]) == (0, "found")
    [origin] = answer["origins"]
    assert origin["trigger"] == "service-network-policy"
    assert origin["eventSource"] == "sveltos-service"
    assert origin["resource"] == "v1/Service default/my-service"
    assert origin["sourceCluster"] == "sveltos:default/cluster-a"
    assert origin["reference"].endswith("(instantiated from ConfigMap default/network-policy)")
    assert origin["resourceLabels"] == {"sveltos": "fv"}


def test_bad_input_is_exit_2_with_a_clear_error() -> None:
    r = CliRunner().invoke(
        app, ["explain", "cluster/my-service.yaml", "-c", "default/nope", "--offline", str(S01)]
    )
    assert r.exit_code == 2 and "is not registered" in r.output and "cluster-a" in r.output
    r = CliRunner().invoke(app, ["explain", "-c", "default/cluster-a", "--offline", str(S01)])
    assert r.exit_code == 2 and "give one of" in r.output


# -- the running system -------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, Any]]]:
    """Scenario 01's stack with my-service (and a Service the filter refuses) in cluster-a,
    once explain says the profile is provisioned there."""
    state = tmp_path_factory.mktemp("explain")
    with Stack(S01 / "fleet.yaml", S01 / "management", state_dir=state) as stack:
        client = stack.client("default/cluster-a")
        client.apply(yaml.safe_load((S01 / "cluster/my-service.yaml").read_text()))
        client.apply(yaml.safe_load((S01 / "cluster/unlabelled-service.yaml").read_text()))

        def provisioned() -> dict[str, Any] | None:
            code, answer = run("--name", "my-service", *named(stack))
            [block] = answer["triggers"]
            outcomes = [o for i in block["instances"] for o in i["outcomes"]]
            done = [o for o in outcomes if o["status"] == "Provisioned"]
            return answer if code == 0 and done else None

        yield stack, eventually(provisioned, 30, "my-service's profile provisioned")


def common(stack: Stack) -> list[str]:
    assert stack.rest_url is not None
    return ["-c", "default/cluster-a", "--manager", stack.rest_url]


def named(stack: Stack) -> list[str]:
    kubeconfig = str(stack.kubeconfig("default/cluster-a"))
    return ["--kind", "Service", "-n", "default", "--kubeconfig", kubeconfig, *common(stack)]


def test_live_explain_through_rest_shows_the_outcome_and_the_converse(
    live: tuple[Stack, dict[str, Any]],
) -> None:
    stack, answer = live
    [block] = answer["triggers"]
    assert answer["mode"] == "live" and block["evaluation"]["matchingSet"] == "holds it"
    [instance] = block["instances"]
    assert instance["live"] is True
    assert instance["objects"] == ["networking.k8s.io/v1/NetworkPolicy default/front-my-service"]
    [outcome] = instance["outcomes"]
    assert outcome["cluster"] == "sveltos:default/cluster-a" and outcome["objects"] == 1
    assert outcome["generation"] >= 1

    code, refused = run("--name", "plain-service", *named(stack))
    assert code == 1 and "label 'sveltos' is absent" in refused["triggers"][0]["reason"]
    code, by_set = run("--name", "my-service", "--kind", "Service", "-n", "default", *common(stack))
    assert code == 0 and by_set["triggers"][0]["evaluation"]["decidedBy"] == "matching set"

    kubeconfig = str(stack.kubeconfig("default/cluster-a"))
    code, origin = run(
        "--deployed", "--api-version", "networking.k8s.io/v1", "--kind", "NetworkPolicy",
        "--name", "front-my-service", "-n", "default", "--kubeconfig", kubeconfig,
        *common(stack),
    )  # fmt: skip
    assert (code, origin["verdict"]) == (0, "found")
    [o] = origin["origins"]
    assert o["profile"] == instance["profile"] and o["trigger"] == "service-network-policy"
    assert o["resource"] == "v1/Service default/my-service"
    assert o["resourceLabels"] == {"sveltos": "fv"}
    assert o["hashMatches"] is True and o["outcome"]["status"] == "Provisioned"


def test_live_outcomes_carry_the_time_the_agent_wrote_them(
    live: tuple[Stack, dict[str, Any]],
) -> None:
    _, answer = live
    [outcome] = answer["triggers"][0]["instances"][0]["outcomes"]
    assert outcome["time"] is not None
    written = datetime.fromisoformat(outcome["time"])
    assert abs((datetime.now(UTC) - written).total_seconds()) < 600


def test_the_documented_exit_codes_are_the_ones_returned() -> None:
    from services.manager import explanations as e
    from services.tools import explain as tool

    assert (tool.EXIT_FIRES, tool.EXIT_DOES_NOT_FIRE, tool.EXIT_USAGE) == (
        e.EXIT_FIRES, e.EXIT_DOES_NOT_FIRE, e.EXIT_USAGE
    )  # fmt: skip
    assert (tool.EXIT_UNREACHABLE, tool.EXIT_UNKNOWN) == (e.EXIT_UNREACHABLE, e.EXIT_UNKNOWN)


def test_offline_a_cloud_event(tmp_path: Path) -> None:
    (tmp_path / "management").mkdir()
    (tmp_path / "fleet.yaml").write_text(
        "clusters: [{namespace: default, name: a, type: sveltos, labels: {env: fv}}]\n"
    )
    definitions = [
        {"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "EventSource",
         "metadata": {"name": "builds"},
         "spec": {"messagingMatchCriteria": [{"cloudEventSource": "^ci$", "cloudEventType": "build"}]}},
        {"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "EventTrigger",
         "metadata": {"name": "per-build"},
         "spec": {"sourceClusterSelector": {"matchLabels": {"env": "fv"}},
                  "eventSourceName": "builds", "oneForEvent": True,
                  "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": "tpl"}]}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "tpl", "namespace": "default",
                      "annotations": {"projectsveltos.io/instantiate": "ok"}},
         "data": {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                             "  name: build-{{ .CloudEvent.subject }}\n  namespace: default\n"}},
    ]  # fmt: skip
    (tmp_path / "management" / "all.yaml").write_text(yaml.safe_dump_all(definitions))
    event = {"specversion": "1.0", "id": "1", "source": "ci", "type": "build", "subject": "main"}
    (tmp_path / "ce.json").write_text(json.dumps(event))
    argv = ["--cloud-event", "ce.json", "--subject", "events.a", "-c", "default/a"]
    code, answer = run(*argv, "--offline", str(tmp_path))
    assert (code, answer["verdict"]) == (0, "fires")
    [block] = answer["triggers"]
    assert block["evaluation"]["criteria"] == [""]
    assert block["instances"][0]["objects"] == ["v1/ConfigMap default/build-main"]
    (tmp_path / "ce.json").write_text(json.dumps({**event, "type": "deploy"}))
    code, answer = run(*argv, "--offline", str(tmp_path))
    assert code == 1
    assert answer["triggers"][0]["evaluation"]["criteria"] == [
        "type 'deploy' does not match 'build'"
    ]


def test_an_unreachable_manager_is_exit_3() -> None:
    argv = ["explain", "--kind", "Service", "--name", "x", "-c", "default/a"]
    r = CliRunner().invoke(app, [*argv, "--manager", "http://127.0.0.1:9"])
    assert r.exit_code == 3 and "cannot reach the manager at http://127.0.0.1:9" in r.output
