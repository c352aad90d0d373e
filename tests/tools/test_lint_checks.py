"""``ripple lint`` compiles what the services would: Lua, CEL, templates (with file lines)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from services.tools import lint

EVENT_SOURCE = """\
apiVersion: lib.projectsveltos.io/v1beta1
kind: EventSource
metadata:
  name: {name}
spec:
  resourceSelectors:
  - version: v1
    kind: Service
    evaluate: |
      function evaluate()
        hs = {{}}
        hs.matching = {condition}
        return hs
      end
    evaluateCEL:
    - name: https
      rule: {rule}
"""

TRIGGER = """\
apiVersion: lib.projectsveltos.io/v1beta1
kind: {kind}
metadata:
  name: {name}
spec:
  sourceClusterSelector:
    matchLabels: {{env: fv}}
  eventSourceName: {name}
  oneForEvent: true
  profileNameFormat: "{profile}"
  policyRefs:
  - kind: ConfigMap
    name: {name}
    namespace: default
"""

TEMPLATE_CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: default
  annotations: {annotations}
data:
  svc.yaml: |
    apiVersion: v1
    kind: Service
    metadata:
      name: {body}
"""


def app() -> typer.Typer:
    application = typer.Typer()
    lint.register(application)

    @application.callback()
    def _root() -> None:
        """test root (keeps 'lint' a sub-command)"""

    return application


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app(), ["lint", *args])
    return result.exit_code, result.output.strip().splitlines()


def source(name: str = "es", condition: str = "true", rule: str = "has(resource.spec)") -> str:
    return EVENT_SOURCE.format(name=name, condition=condition, rule=rule)


def trigger(
    name: str = "t", profile: str = "p-{{ .MatchingResource.Name }}", kind: str = "EventTrigger"
) -> str:
    return TRIGGER.format(name=name, profile=profile, kind=kind)


def test_a_lua_syntax_error_fails_with_the_line_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "es.yaml"
    path.write_text(source(condition="(obj.x =="))
    code, lines = run(str(path))
    assert lines == [
        f"{path}:13: EventSource/es spec.resourceSelectors[0].evaluate: Lua does not compile: "
        "unexpected symbol near 'return'",
        "0 passed, 1 failed",
    ]
    assert code == 1


def test_an_unclosed_template_fails(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(trigger(profile="p-{{ .MatchingResource.Name "))
    code, lines = run(str(path))
    assert lines == [
        f"{path}:10: EventTrigger/t spec.profileNameFormat: template does not parse: unclosed action",
        "0 passed, 1 failed",
    ]
    assert code == 1


def test_a_cel_rule_that_does_not_compile_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "es.yaml"
    path.write_text(source(rule='"resource.spec.ports.exists(p, p.port == 443"'))
    code, lines = run(str(path))
    assert lines == [
        f"{path}:17: EventSource/es spec.resourceSelectors[0].evaluateCEL[0].rule: warning: "
        "rule https does not compile, so it counts as false (as in Sveltos): syntax error at "
        "column 41",
        "1 passed, 0 failed",
    ]
    assert code == 0  # Sveltos runs it (as false); --strict refuses it
    assert run("--strict", str(path))[0] == 1


def test_referenced_configmaps_are_checked_in_their_flavour(tmp_path: Path) -> None:
    (tmp_path / "a-trigger.yaml").write_text(trigger(name="go") + "---\n" + trigger(name="jinja"))
    bad_go = TEMPLATE_CM.format(
        name="go",
        annotations="{projectsveltos.io/instantiate: ok}",
        body="{{ .MatchingResource.Name",
    )
    bad_jinja = TEMPLATE_CM.format(
        name="jinja",
        annotations="{projectsveltos.io/instantiate: ok, ripple.io/template-flavour: jinja}",
        body="{{ MatchingResource.Name }}{% if x %}",
    )
    (tmp_path / "b-go.yaml").write_text(bad_go)
    (tmp_path / "c-jinja.yaml").write_text(bad_jinja)
    code, lines = run(str(tmp_path))
    assert lines == [
        f"{tmp_path / 'b-go.yaml'}:12: ConfigMap/go data[svc.yaml]: template does not parse: "
        "unclosed action (rendered by EventTrigger/go spec.policyRefs[0])",
        f"{tmp_path / 'c-jinja.yaml'}:12: ConfigMap/jinja data[svc.yaml]: Jinja2 template does "
        "not parse: Unexpected end of template. Jinja was looking for the following tags: "
        "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'. "
        "(rendered by EventTrigger/jinja spec.policyRefs[0])",
        "1 passed, 2 failed",
    ]
    assert code == 1


def test_a_configmap_deployed_as_it_is_is_not_a_template(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(trigger(name="plain"))
    plain = TEMPLATE_CM.format(name="plain", annotations="{}", body="'{{ not a template'")
    (tmp_path / "cm.yaml").write_text(plain)
    assert run(str(tmp_path)) == (0, ["2 passed, 0 failed"])
    # an EventBasedAddOn (v1alpha1) instantiates every referenced object
    v1alpha1 = trigger(name="plain", kind="EventBasedAddOn").replace("v1beta1", "v1alpha1")
    v1alpha1 = v1alpha1.replace("matchLabels: {env: fv}", "env=fv").replace(
        "\n    env=fv", " env=fv"
    )
    (tmp_path / "t.yaml").write_text(v1alpha1)
    code, lines = run(str(tmp_path))
    assert code == 1 and "ConfigMap/plain data[svc.yaml]: template does not parse" in lines[0]


def test_secret_data_is_decoded(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .x\n"
    secret = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: default
type: addons.projectsveltos.io/cluster-profile
data:
  svc.yaml: {base64.b64encode(text.encode()).decode()}
"""
    (tmp_path / "s.yaml").write_text(secret)
    (tmp_path / "t.yaml").write_text(
        trigger(name="t")
        .replace("kind: ConfigMap\n    name: t", "kind: Secret\n    name: s")
        .replace(
            "policyRefs:",
            "helmCharts: []\n  configMapGenerator: []\n  secretGenerator:\n  - {name: s, namespace: default, nameFormat: x}\n  policyRefs:",
        )
    )
    code, lines = run(str(tmp_path))
    assert lines[0] == (
        f"{tmp_path / 's.yaml'}:8: Secret/s data[svc.yaml]: template does not parse: "
        "unclosed action (line 4 of the base64-decoded value) (rendered by EventTrigger/t "
        "spec.secretGenerator[0])"
    )
    assert code == 1


def test_fields_ripple_does_not_act_on_are_warnings(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(trigger() + "  dependsOn: [base]\n  clusterSetRefs: [prod]\n")
    code, lines = run(str(path))
    assert lines == [
        f"{path}:15: EventTrigger/t spec.dependsOn: warning: accepted, not supported by Ripple: "
        "profiles are deployed without waiting for the ones named",
        f"{path}:16: EventTrigger/t spec.clusterSetRefs: warning: accepted, not supported by "
        "Ripple: the clusters of these ClusterSets/Sets are not added to the source clusters; "
        "only sourceClusterSelector selects them",
        "1 passed, 0 failed",
    ]
    assert code == 0


def test_a_hundred_definitions_lint_fast(tmp_path: Path) -> None:
    docs = []
    for i in range(50):
        docs.append(
            source(
                name=f"es{i}", condition=f"obj.spec ~= nil and {i} > 0", rule=f"resource.x == {i}"
            )
        )
        docs.append(trigger(name=f"t{i}", profile=f"p{i}-{{{{ .MatchingResource.Name }}}}"))
    path = tmp_path / "many.yaml"
    path.write_text("---\n".join(docs))
    started = time.perf_counter()
    code, lines = run(str(path))
    elapsed = time.perf_counter() - started
    assert (code, lines) == (0, ["1 passed, 0 failed"])
    assert elapsed < 10, elapsed  # about 0.5 s on one core; generous for a loaded machine


HELM = """\
apiVersion: lib.projectsveltos.io/v1beta1
kind: EventTrigger
metadata:
  name: charts
spec:
  sourceClusterSelector: {matchLabels: {env: prod}}
  eventSourceName: es
  oneForEvent: true
  helmCharts:
  - repositoryURL: gitrepository://flux-system/flux-system/charts/app
    repositoryName: app
    chartName: app
    chartVersion: 1.0.0
    releaseName: app
    releaseNamespace: app
  - repositoryURL: https://kyverno.github.io/kyverno/
    repositoryName: kyverno
    chartName: kyverno/kyverno
    chartVersion: v3.0.1
    releaseName: Kyverno_Latest
    releaseNamespace: kyverno
  - repositoryURL: https://kyverno.github.io/kyverno/
    repositoryName: kyverno
    chartName: kyverno/kyverno
    chartVersion: v3.0.1
    releaseName: "{{ .MatchingResource.Name }}"
    releaseNamespace: kyverno
    options: {wait: true}
  - repositoryURL: https://kyverno.github.io/kyverno/
    repositoryName: kyverno
    chartName: kyverno/kyverno
    chartVersion: v3.0.1
    releaseName: kyverno
    releaseNamespace: kyverno
    options: {wait: true}
"""


def test_helm_charts_are_checked_as_the_agent_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "helm.yaml"
    path.write_text(HELM)
    code, lines = run(str(path))
    assert lines == [
        f"{path}:10: EventTrigger/charts spec.helmCharts[0].repositoryURL: warning: accepted, not "
        "supported by Ripple: Flux sources are not fetched; this release fails in the profile's "
        "status",
        f"{path}:20: EventTrigger/charts spec.helmCharts[1].releaseName: releaseName "
        "'Kyverno_Latest' is not a DNS-1123 name (lower case letters, digits, '-' and '.', "
        "starting and ending with a letter or digit)",
        f"{path}:35: EventTrigger/charts spec.helmCharts[3].options.wait: warning: accepted, not "
        "supported by Ripple: Ripple never waits for readiness",
        "0 passed, 1 failed",
    ]
    assert code == 1


def test_content_for_the_second_pass_is_parsed_with_addon_controllers_functions(
    tmp_path: Path,
) -> None:
    (tmp_path / "t.yaml").write_text(trigger(name="addon"))
    good = TEMPLATE_CM.format(
        name="addon",
        annotations="{projectsveltos.io/template: ok}",
        body="'{{ (getResource \"cm\").metadata.name }}-{{ .Cluster.metadata.name }}'",
    )
    (tmp_path / "cm.yaml").write_text(good)
    assert run(str(tmp_path)) == (0, ["2 passed, 0 failed"])
    (tmp_path / "cm.yaml").write_text(good.replace("}}-{{", "}}-{{ {{"))
    code, lines = run(str(tmp_path))
    assert code == 1
    assert lines[0].startswith(
        f"{tmp_path / 'cm.yaml'}:12: ConfigMap/addon data[svc.yaml]: template "
        "(projectsveltos.io/template) does not parse: "
    )
    assert lines[0].endswith("(rendered by EventTrigger/addon spec.policyRefs[0])")


def test_data_keys_that_the_instances_will_not_have(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    text = trigger(profile="p-{{ .MatchingResources }}").replace(
        "eventSourceName: t", "eventSourceName: '{{ .MatchingResource.Name }}'"
    )
    path.write_text(text)
    code, lines = run(str(path))
    assert lines == [
        f"{path}:8: EventTrigger/t spec.eventSourceName: warning: .MatchingResource is not in "
        "the template data of eventSourceName (.Cluster, .ClusterNamespace, .ClusterName): "
        "rendering fails",
        f"{path}:10: EventTrigger/t spec.profileNameFormat: warning: .MatchingResources is not "
        "in the template data of a oneForEvent: true trigger (.MatchingResource, .Resource, "
        ".CloudEvent, .Cluster): rendering fails; .MatchingResources exists only with "
        "oneForEvent: false (with true, .MatchingResource)",
        "1 passed, 0 failed",
    ]
    assert code == 0


def test_data_keys_of_referenced_templates_in_their_flavour(tmp_path: Path) -> None:
    all_resources = trigger(name="jinja").replace("  oneForEvent: true\n", "")
    (tmp_path / "t.yaml").write_text(all_resources.replace("p-{{ .MatchingResource.Name }}", "p"))
    cm = TEMPLATE_CM.format(
        name="jinja",
        annotations="{projectsveltos.io/instantiate: ok, ripple.io/template-flavour: jinja}",
        body="'{{ MatchingResource.Name }}{% for r in MatchingResources %}{{ r.Name }}{% endfor %}'",
    )
    (tmp_path / "cm.yaml").write_text(cm)
    code, lines = run(str(tmp_path))
    assert lines == [
        f"{tmp_path / 'cm.yaml'}:8: ConfigMap/jinja data[svc.yaml]: warning: MatchingResource is "
        "not in the template data of a oneForEvent: false trigger (MatchingResources, Resources, "
        "CloudEvents, Cluster): rendering fails; MatchingResource exists only with oneForEvent: "
        "true (with false, range over MatchingResources) (rendered by EventTrigger/jinja "
        "spec.policyRefs[0])",
        "2 passed, 0 failed",
    ]
    assert code == 0
