"""The manager's bounds on what it renders and reads (issue 16, items 2 and 3): each oversized or
hostile input is an error naming the template or definition, the instance's resource and the
bound, never a crash, and is counted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.manager import definitions, rendering
from services.manager.errors import DefinitionProblem, InstantiationError
from services.manager.model import ClusterKey
from services.manager.planning import Instance as PlanInstance
from services.manager.planning import PolicyRefView, TriggerView, World, plan_instance
from shared.api.selectors import parse_selector
from shared.helm import HelmTerminal
from shared.helm.spec import load_values
from shared.templating import Limits
from tests.manager.test_publication import cluster

SVC = {"apiVersion": "v1", "kind": "Service", "name": "web", "namespace": "apps"}
DATA = {"MatchingResource": SVC, "Resource": None, "Cluster": {}}


def configmap(data: dict[str, str], name: str = "tpl") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"projectsveltos.io/instantiate": "ok"},
        },
        "data": data,
    }


def laughs(levels: int) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: bomb", "data:"]
    lines.append("  a0: &a0 [x, x, x, x, x, x, x, x, x, x]")
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_a_render_over_its_budget_names_template_resource_and_bound() -> None:
    text = '{{ range until 300 }}{{ derivePassword 1 "long" "pw" "u" "s" }}{{ end }}'
    before = rendering.refusal_metrics()["template_refusals_time_total"][2]
    started = time.perf_counter()
    with rendering.limits_scope(Limits(max_seconds=0.1)), pytest.raises(InstantiationError) as e:
        rendering.instantiate(
            configmap({"k.yaml": text}), DATA, render=True, owner="EventTrigger/hostile"
        )
    assert time.perf_counter() - started < 5.0
    message = str(e.value)
    assert message.startswith(
        "EventTrigger/hostile policyRef ConfigMap/default/tpl data[k.yaml] for Service apps/web: "
        "render refused: "
    )
    assert (
        "render time budget exceeded: the limit is 0.1 s" in message and "derivePassword" in message
    )
    assert rendering.refusal_metrics()["template_refusals_time_total"][2] == before + 1


def test_a_refused_render_is_refused_again_at_once_for_the_same_data() -> None:
    """A re-plan (a cluster or a referenced object changed) does not pay a hostile
    template's budget again: the same template over the same data is refused without
    rendering, with the same message, for a while; other data is rendered."""
    text = '{{ range until 30000 }}{{ genPrivateKey "ecdsa" | len }},{{ end }}'
    cm = configmap({"k.yaml": text}, name="again")
    messages, took = [], []
    with rendering.limits_scope(Limits(max_seconds=0.2)):
        for _ in range(3):
            started = time.perf_counter()
            with pytest.raises(InstantiationError) as e:
                rendering.instantiate(cm, DATA, render=True, owner="EventTrigger/hostile")
            took.append(time.perf_counter() - started)
            messages.append(str(e.value))
        assert len(set(messages)) == 1, "the trigger's status does not change"
        assert took[0] >= 0.2 and max(took[1:]) < 0.1, took
        other = {**DATA, "MatchingResource": {**SVC, "name": "db"}}
        started = time.perf_counter()
        with pytest.raises(InstantiationError):
            rendering.instantiate(cm, other, render=True, owner="EventTrigger/hostile")
        assert time.perf_counter() - started >= 0.2, "other data: rendered (and refused)"


def test_the_default_budget_is_half_a_second() -> None:
    assert rendering.RENDER_LIMITS.max_seconds == 0.5
    text = '{{ range until 100 }}{{ $x := bcrypt "x" }}{{ end }}'
    started = time.perf_counter()
    with pytest.raises(
        InstantiationError, match=r"render time budget exceeded: the limit is 0\.5 s"
    ):
        rendering.render_text(text, DATA, flavour="go", name="ConfigMap/default/x data[k]")
    assert time.perf_counter() - started < 5.0


def test_jinja_arithmetic_is_refused_at_once() -> None:
    cm = configmap({"k.yaml": "{{ (10 ** 30000000) % 7 }}"})
    cm["metadata"]["annotations"]["ripple.io/template-flavour"] = "jinja"
    started = time.perf_counter()
    with pytest.raises(InstantiationError, match="over the limit of 4096") as e:
        rendering.instantiate(cm, DATA, render=True)
    assert time.perf_counter() - started < 0.5
    assert "ConfigMap/default/tpl data[k.yaml] for Service apps/web" in str(e.value)


def test_rendered_yaml_with_an_alias_bomb_is_refused_before_it_is_built() -> None:
    before = rendering.refusals["yaml"]
    for render in (True, False):  # rendered, and deployed as it is
        started = time.perf_counter()
        with pytest.raises(InstantiationError) as e:
            rendering.instantiate(configmap({"bomb.yaml": laughs(9)}), DATA, render=render)
        assert time.perf_counter() - started < 0.5
        assert "ConfigMap/default/tpl data[bomb.yaml] for Service apps/web: output refused" in (
            str(e.value)
        )
        assert "expands to more than 100000 nodes" in str(e.value)
    assert rendering.refusals["yaml"] == before + 2


def test_a_referenced_object_over_the_size_limit_is_refused_with_its_size() -> None:
    big = {f"k{i}.yaml": "x: " + "y" * (900 << 10) for i in range(5)}  # 4.5 MiB, five keys
    before = rendering.refusals["reference"]
    with pytest.raises(InstantiationError) as e:
        rendering.instantiate(configmap(big, "big"), DATA, render=True)
    assert str(e.value).startswith("ConfigMap/default/big: its data is 4608")
    assert "over the limit of 1048576 bytes for a referenced ConfigMap" in str(e.value)
    assert rendering.refusals["reference"] == before + 1
    secret = {**configmap({}), "kind": "Secret", "stringData": {"k": "y" * (2 << 20)}}
    with pytest.raises(InstantiationError, match="over the limit of 1048576 bytes"):
        rendering.data_entries(secret)


def test_the_instance_keeps_its_error_and_names_the_resource_in_planning() -> None:
    key = ClusterKey("default", "c", "sveltos")
    source = cluster(key)
    trigger = TriggerView(
        kind="EventTrigger",
        name="hostile",
        source_selector=parse_selector("env=fv"),
        event_source_name="svc",
        one_for_event=True,
        policy_refs=(PolicyRefView("ConfigMap", "default", "tpl"),),
    )
    cm = configmap({"bomb.yaml": laughs(7)})
    world = World({key: source}, {("ConfigMap", "default", "tpl"): cm})
    plan = plan_instance(trigger, source, "svc", PlanInstance(dict(DATA), resource=SVC), world)
    assert plan.error and not plan.objects
    assert "for Service apps/web: output refused" in plan.error


@pytest.mark.parametrize("kind", ["EventSource", "EventTrigger"])
def test_an_oversized_definition_is_refused_with_its_size_and_largest_field(kind: str) -> None:
    script = "function evaluate()\n  return {matching = true}\nend\n" + "-- x\n" * (1 << 20)
    spec: dict[str, Any] = {
        "resourceSelectors": [{"group": "", "version": "v1", "kind": "Service"}],
    }
    spec["resourceSelectors"][0]["evaluate"] = script
    obj = {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": kind,
        "metadata": {"name": "huge"},
        "spec": spec,
    }
    started = time.perf_counter()
    convert: Any = definitions.event_source_object
    if kind == "EventTrigger":
        convert = definitions.trigger_view
    with pytest.raises(DefinitionProblem) as e:
        convert(obj)
    assert time.perf_counter() - started < 1.0
    assert str(e.value).startswith(f"{kind}/huge: spec is 6291")  # JSON: each \n is 2 bytes
    assert "over the limit of 1048576 bytes for a definition" in str(e.value)
    assert "largest field: spec.resourceSelectors[0].evaluate, 5242" in str(e.value)


def test_helm_values_are_bounded() -> None:
    with pytest.raises(HelmTerminal, match="values are refused: document 0: the document"):
        load_values(laughs(8).replace("apiVersion", "kind2").replace("kind:", "k:"), "values")


def test_helm_value_errors_quote_no_text() -> None:
    """Values may come from a Secret: a YAML error says what and where, never the text."""
    with pytest.raises(HelmTerminal) as e:
        load_values("password: hunter2-secret: x\n", "values of Secret/default/v")
    assert "hunter2" not in str(e.value)
    assert str(e.value) == (
        "values of Secret/default/v are not YAML: mapping values are not allowed here "
        "(line 1, column 25)"
    )
