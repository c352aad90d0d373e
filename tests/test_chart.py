"""charts/ripple rendered and linted by real Helm (helm_python: Helm's own engine, schema
validation and linter): what every pod runs with (security context, probes on the port named
`metrics`, writable directories under a read-only root), NATS credentials from Secrets,
release-scoped names, the ServiceMonitor option, and values.schema.json refusing bad values.
Installing into a cluster (schema refusals, RBAC exercised by the services themselves) is in
tests/chart/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.paths import REPO

helm = pytest.importorskip("helm_python")

CHART = REPO / "charts" / "ripple"
AGENT = {
    "manager": {"enabled": False},
    "reporter": {"enabled": False},
    "agent": {"enabled": True, "cluster": {"name": "prod-eu-1"}},
}
EVERYTHING = {"agent": {"enabled": True, "cluster": {"name": "c"}}}


def render(
    values: dict[str, Any], name: str = "ripple", namespace: str = "ripple"
) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    try:
        files = chart.render(values, name=name, namespace=namespace, is_install=True)
    finally:
        chart.close()
    manifests = [text for path, text in files.items() if path.endswith((".yaml", ".yml"))]
    return [d for text in manifests for d in yaml.safe_load_all(text) if d]


def refusal(values: dict[str, Any]) -> str:
    """Helm's error for values it must refuse (``helm template``)."""
    with pytest.raises(helm.HelmError) as err:
        render(values)
    return str(err.value)


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] == "Deployment"
    }


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture
def agent_pod() -> Iterator[dict[str, Any]]:
    values = {**AGENT, "nats": {"existingSecret": "agent-creds", "credsKey": "creds"}}
    yield find(render(values), "Deployment", "ripple-agent")["spec"]["template"]["spec"]


# -- Helm's linter and the schema ----------------------------------------------------------
@pytest.mark.parametrize(
    "values",
    [{}, EVERYTHING, {**AGENT, "serviceMonitor": {"enabled": True, "skipCapabilityCheck": True}}],
)
def test_helm_lint_finds_nothing(values: dict[str, Any]) -> None:
    """`helm lint --strict` (warnings are errors) with the Kubernetes version we target."""
    report = helm.lint(CHART, values, strict=True, namespace="ripple", kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    ("values", "where", "why"),
    [
        ({"manager": {"replicas": "three"}}, "/manager/replicas", "want integer"),
        ({"manager": {"replicas": 6}}, "/manager/replicas", "maximum"),
        ({"replicas": 1}, "additional properties 'replicas'", ""),
        ({"manager": {"apiport": 80}}, "additional properties 'apiport'", ""),
        ({"metricsPort": 70000}, "/metricsPort", "maximum"),
        ({"manager": {"apiPort": "http"}}, "/manager/apiPort", "want integer"),
        ({"nats": {"url": "http://nats:4222"}}, "/nats/url", "does not match"),
        ({"nats": {"existingSecret": "Not_A_Name"}}, "/nats/existingSecret", ""),
        ({"logLevel": "verbose"}, "/logLevel", ""),
        ({"agent": {"cluster": {"type": "kind"}}}, "/agent/cluster/type", ""),
        ({"agent": {"enabled": True}}, "/agent/cluster/name", "minLength"),
        (
            {"reporter": {"resources": {"limits": {"memory": "lots"}}}},
            "/reporter/resources/limits/memory",
            "",
        ),
        ({"serviceMonitor": {"interval": "often"}}, "/serviceMonitor/interval", ""),
        ({"image": {"tag": 1.1}}, "/image/tag", "want string"),
        ({"tracing": {"otlpEndpoint": "collector:4318"}}, "/tracing/otlpEndpoint", ""),
        ({"manager": {"withdrawalGuard": {"share": 2}}}, "/manager/withdrawalGuard/share", ""),
        ({"manager": {"managementCluster": "mgmt"}}, "/manager/managementCluster", ""),
    ],
)
def test_bad_values_fail_helm_template_naming_the_key(
    values: dict[str, Any], where: str, why: str
) -> None:
    message = refusal(values)
    assert "schema" in message and where in message and why in message, message


def test_the_schema_is_the_one_helm_loads_and_values_yaml_passes_it() -> None:
    chart = helm.Chart.load(CHART)
    try:
        assert chart.schema is not None
        chart.validate_schema(yaml.safe_load((CHART / "values.yaml").read_text()))
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({"manager": {"replicas": "three"}})
    finally:
        chart.close()


def test_the_management_cluster_reaches_the_manager() -> None:
    """manager.managementCluster: where Local policyRefs and generated Secrets go."""
    docs = render({"manager": {"managementCluster": "mgmt/mgmt"}})
    container = find(docs, "Deployment", "ripple-manager")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in container["containers"][0]["env"]}
    assert env["RIPPLE_MANAGEMENT_CLUSTER"] == "mgmt/mgmt"


def test_the_api_and_metrics_ports_cannot_be_the_same() -> None:
    assert "need two ports" in refusal({"manager": {"apiPort": 9090}})


# -- every pod -----------------------------------------------------------------------------
def test_every_pod_runs_restricted() -> None:
    """Pod Security Standard "restricted": non-root, no privilege escalation, every
    capability dropped, RuntimeDefault seccomp; and a read-only root filesystem with a
    writable /tmp."""
    for name, pod in pods(render(EVERYTHING)).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        [container] = pod["containers"]
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["capabilities"] == {"drop": ["ALL"]}, name
        assert sc["runAsNonRoot"] is True, name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name
        assert container["resources"]["requests"] and container["resources"]["limits"], name


def test_every_service_has_probes_and_metrics_on_the_port_named_metrics() -> None:
    """/livez and /readyz are served by each service from a thread (not its event loop) on
    RIPPLE_METRICS_PORT, on the pod's addresses so that the kubelet and Prometheus reach
    them; each component's Service exposes that port as `metrics`."""
    docs = render(EVERYTHING)
    deployments = pods(docs)
    assert set(deployments) == {"ripple-agent", "ripple-manager", "ripple-reporter"}
    for name, pod in deployments.items():
        [container] = pod["containers"]
        env = env_of(container)
        assert env["RIPPLE_METRICS_HOST"] == "0.0.0.0", name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert str(ports["metrics"]) == env["RIPPLE_METRICS_PORT"] == "9090", name
        live, ready = container["livenessProbe"], container["readinessProbe"]
        assert live["httpGet"] == {"path": "/livez", "port": "metrics"}, name
        assert ready["httpGet"] == {"path": "/readyz", "port": "metrics"}, name
        assert live["failureThreshold"] * live["periodSeconds"] >= 30, name
        assert env["RIPPLE_LIVENESS_LOOP_BLOCKED"] == "10", name
        svc = find(docs, "Service", name)
        assert {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"} in svc[
            "spec"
        ]["ports"], name
        assert (
            svc["spec"]["selector"]
            == find(docs, "Deployment", name)["spec"]["selector"]["matchLabels"]
        )


def test_the_metrics_port_and_probe_timings_are_values() -> None:
    values = {
        **EVERYTHING,
        "metricsPort": 9300,
        "probes": {"liveness": {"periodSeconds": 20, "failureThreshold": 6}},
        "liveness": {"stalledSeconds": 120},
    }
    for name, pod in pods(render(values)).items():
        [container] = pod["containers"]
        assert {"name": "metrics", "containerPort": 9300, "protocol": "TCP"} in container["ports"]
        assert container["livenessProbe"]["periodSeconds"] == 20, name
        assert env_of(container)["RIPPLE_LIVENESS_STALLED"] == "120", name


def test_a_service_monitor_scrapes_every_service_of_the_release() -> None:
    assert not [d for d in render(EVERYTHING) if d["kind"] == "ServiceMonitor"]
    assert "Prometheus Operator's CRDs" in refusal({"serviceMonitor": {"enabled": True}})
    monitor = {"enabled": True, "labels": {"release": "prom"}, "skipCapabilityCheck": True}
    values = {**EVERYTHING, "serviceMonitor": monitor}
    docs = render(values)
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Service"
        and selector.items() <= d["metadata"]["labels"].items()
        and any(p["name"] == "metrics" for p in d["spec"]["ports"])
    ]
    assert sorted(services) == ["ripple-agent", "ripple-manager", "ripple-reporter"]


# -- the agent's Helm cache and NATS credentials -------------------------------------------
def test_the_agent_has_a_writable_helm_cache_under_a_read_only_root(
    agent_pod: dict[str, Any],
) -> None:
    [container] = agent_pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = env_of(container)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    cache = env["RIPPLE_HELM_CACHE_DIR"]
    assert mounts[cache] == "helm-cache"
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        assert env[var].startswith(cache + "/")  # Helm's own homes: off the read-only root
    assert (env["RIPPLE_HELM_QPS"], env["RIPPLE_HELM_BURST"]) == ("200", "400")
    assert env["RIPPLE_CLUSTER"] == "default/prod-eu-1"
    volumes = {v["name"]: v for v in agent_pod["volumes"]}
    assert volumes["helm-cache"]["emptyDir"]["sizeLimit"] == "1Gi"
    assert mounts["/tmp"] == "tmp"


def test_nats_credentials_file_is_mounted_from_the_secret(agent_pod: dict[str, Any]) -> None:
    [container] = agent_pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["nats-credentials"]["readOnly"] is True
    volumes = {v["name"]: v for v in agent_pod["volumes"]}
    assert volumes["nats-credentials"]["secret"]["secretName"] == "agent-creds"
    env = env_of(container)
    assert env["RIPPLE_NATS_CREDS"] == mounts["nats-credentials"]["mountPath"] + "/creds"
    assert "RIPPLE_NATS_USER" not in env and "RIPPLE_NATS_PASSWORD" not in env


def test_nats_user_and_password_come_from_secrets_per_service() -> None:
    values = {
        **EVERYTHING,
        "nats": {"existingSecret": "shared", "userKey": "username", "passwordKey": "pass"},
        "manager": {"nats": {"existingSecret": "ripple-nats-manager"}},
    }
    expected = {
        "ripple-manager": "ripple-nats-manager",
        "ripple-reporter": "shared",
        "ripple-agent": "shared",
    }
    for name, pod in pods(render(values)).items():
        env = env_of(pod["containers"][0])
        user, password = env["RIPPLE_NATS_USER"], env["RIPPLE_NATS_PASSWORD"]
        assert user == {"secretKeyRef": {"name": expected[name], "key": "username"}}, name
        assert password == {"secretKeyRef": {"name": expected[name], "key": "pass"}}, name
    for pod in pods(render(EVERYTHING)).values():  # no Secret: no credentials
        assert not {"RIPPLE_NATS_USER", "RIPPLE_NATS_CREDS"} & set(env_of(pod["containers"][0]))


def test_the_rest_token_comes_from_a_secret() -> None:
    values = {"manager": {"apiTokenSecret": "api", "apiTokenKey": "bearer"}}
    pod = pods(render(values))["ripple-manager"]
    env = env_of(pod["containers"][0])
    assert env["RIPPLE_API_TOKEN"] == {"secretKeyRef": {"name": "api", "key": "bearer"}}


def test_tracing_is_off_unless_an_endpoint_is_given() -> None:
    for pod in pods(render(EVERYTHING)).values():
        assert "RIPPLE_OTLP_ENDPOINT" not in env_of(pod["containers"][0])
    values = {**EVERYTHING, "tracing": {"otlpEndpoint": "http://otel:4318", "sampleRatio": 0.1}}
    for pod in pods(render(values)).values():
        env = env_of(pod["containers"][0])
        assert env["RIPPLE_OTLP_ENDPOINT"] == "http://otel:4318"
        assert env["RIPPLE_TRACE_SAMPLE_RATIO"] == "0.1"


def test_the_withdrawal_guard_is_a_value_of_the_manager() -> None:
    from services.manager.settings import ManagerSettings
    from tests.chart.settings_env import build

    guard = {"enabled": False, "share": 0.25, "min": 10, "window": 5}
    env = env_of(
        pods(render({"manager": {"withdrawalGuard": guard}}))["ripple-manager"]["containers"][0]
    )
    settings = build(ManagerSettings, {k: v for k, v in env.items() if k.startswith("RIPPLE_")})
    assert settings.withdrawal_bound() == settings.withdrawal_bound().__class__(
        share=0.25, minimum=10, window=5.0, enabled=False
    )


# -- names ---------------------------------------------------------------------------------
def names(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in docs}


def test_two_agent_releases_in_one_namespace_do_not_collide() -> None:
    """One cluster may run two agents (e.g. registered in two management clusters)."""
    one = render(
        {**AGENT, "agent": {"enabled": True, "cluster": {"name": "a"}}}, "agent-a", "ripple"
    )
    two = render(
        {**AGENT, "agent": {"enabled": True, "cluster": {"name": "b"}}}, "agent-b", "ripple"
    )
    assert names(one) and not names(one) & names(two)
    for docs, release in ((one, "agent-a"), (two, "agent-b")):
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/instance"] == release  # never selects the other's
        binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
        [subject] = binding["subjects"]
        assert subject["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]


def test_cluster_scoped_names_carry_the_release_namespace() -> None:
    a, b = render(EVERYTHING, "ripple", "team-a"), render(EVERYTHING, "ripple", "team-b")
    cluster_scoped = {n for n in names(a) if n[0] in ("ClusterRole", "ClusterRoleBinding")}
    assert len(cluster_scoped) == 6
    assert not cluster_scoped & names(b)
    assert ("ClusterRole", "", "team-a-ripple-agent") in cluster_scoped


def test_name_overrides() -> None:
    docs = render({"fullnameOverride": "rpl"}, "whatever")
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        "rpl-manager",
        "rpl-reporter",
    }
    docs = render({}, "prod")  # a release name without "ripple": prefixed
    assert "prod-ripple-manager" in {d["metadata"]["name"] for d in docs}


def test_the_default_release_renders_the_manager_and_reporter_only() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in render({})}
    assert ("Deployment", "ripple-agent") not in kinds
    assert {("Deployment", "ripple-manager"), ("Deployment", "ripple-reporter")} <= kinds


def test_the_image_is_the_charts_app_version_or_a_digest() -> None:
    pod = pods(render({}))["ripple-manager"]
    assert pod["containers"][0]["image"] == "ripple:0.1.0"
    digest = "sha256:" + "a" * 64
    pod = pods(
        render(
            {
                "image": {
                    "repository": "r.io/ripple",
                    "digest": digest,
                    "pullSecrets": [{"name": "reg"}],
                }
            }
        )
    )["ripple-manager"]
    assert pod["containers"][0]["image"] == f"r.io/ripple@{digest}"
    assert pod["imagePullSecrets"] == [{"name": "reg"}]


# -- RBAC: the rules (exercised by the services in tests/chart/test_rbac_fleet.py) ----------
def allowed(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_manager_only_watches() -> None:
    role = find(render({}), "ClusterRole", "ripple-ripple-manager")
    assert {verb for _, _, verb in allowed(role)} == {"list", "watch"}
    assert ("", "secrets", "watch") in allowed(role)


def test_the_reporter_may_write_everything_it_mirrors_and_nothing_else() -> None:
    """EventReports, ClusterProfiles and their status, the instantiated ConfigMaps (and
    their namespace), and the definitions' status; server-side apply creates (create)."""
    rules = allowed(find(render({}), "ClusterRole", "ripple-ripple-reporter"))
    lib, config = "lib.projectsveltos.io", "config.projectsveltos.io"
    for needed in [
        (lib, "eventreports", "patch"),
        (lib, "eventreports", "create"),
        (lib, "eventreports", "delete"),
        (lib, "eventreports/status", "patch"),
        (config, "clusterprofiles", "patch"),
        (config, "clusterprofiles/status", "patch"),
        ("", "configmaps", "patch"),
        ("", "configmaps", "list"),
        ("", "configmaps", "delete"),
        ("", "namespaces", "patch"),
        (lib, "eventsources/status", "patch"),
        (lib, "eventtriggers/status", "patch"),
        (lib, "eventbasedaddons/status", "patch"),
    ]:
        assert needed in rules, needed
    assert not {r for r in rules if r[1] in ("secrets", "eventtriggers", "eventsources")}
    assert not {r for r in rules if r[2] in ("*", "update", "watch", "get")}


def test_the_agent_may_do_what_helm_does_unless_narrowed() -> None:
    """Helm writes its releases as Secrets, creates the release namespace and installs
    objects of any kind: the agent's default ClusterRole covers all of it; agent.rbac.rules
    replaces it."""
    role = find(render(AGENT), "ClusterRole", "ripple-ripple-agent")
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]} in role["rules"]
    narrow = [{"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]}]
    values = {**AGENT, "agent": {**AGENT["agent"], "rbac": {"rules": narrow}}}
    assert find(render(values), "ClusterRole", "ripple-ripple-agent")["rules"] == narrow


def test_rbac_create_false_renders_no_cluster_roles() -> None:
    docs = render({**EVERYTHING, "rbac": {"create": False}})
    assert not [d for d in docs if d["kind"].startswith("ClusterRole")]
    assert len([d for d in docs if d["kind"] == "ServiceAccount"]) == 3


# -- what the pods run: valid commands and settings ----------------------------------------
def test_each_container_runs_a_valid_command_with_valid_settings() -> None:
    """The args are a `ripple` command whose flags exist, and the RIPPLE_* variables the
    chart sets are settings of that service, with values it accepts (built as it would)."""
    from typer.testing import CliRunner

    from services.cli import app
    from tests.chart.settings_env import SETTINGS, build, known_variables

    values = {
        **EVERYTHING,
        "nats": {"existingSecret": "s"},
        "manager": {"apiTokenSecret": "t"},
        "tracing": {"otlpEndpoint": "http://otel:4318"},
    }
    for name, pod in pods(render(values)).items():
        [container] = pod["containers"]
        args = container["args"]
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert all(a in result.output for a in args if a.startswith("--")), name
        cls = SETTINGS[args[0]]
        env = {e["name"]: e.get("value", "from-a-secret") for e in container["env"]}
        ripple = {k: v for k, v in env.items() if k.startswith("RIPPLE_")}
        assert set(ripple) <= known_variables(cls), (name, set(ripple) - known_variables(cls))
        settings = build(cls, ripple)
        assert settings.metrics_port == 9090, name


def test_the_notes_say_what_to_check_and_warn_without_credentials() -> None:
    chart = helm.Chart.load(CHART)
    try:
        bare = chart.render({}, name="ripple", namespace="ns", is_install=True)
        secured = chart.render(
            {"nats": {"existingSecret": "s"}, "manager": {"apiTokenSecret": "api"}},
            name="ripple",
            namespace="ns",
            is_install=True,
        )
    finally:
        chart.close()
    notes = bare["ripple/templates/NOTES.txt"]
    assert "port-forward svc/ripple-manager 8080" in notes and "/readyz" in notes
    assert "WARNING: no NATS credentials" in notes
    notes = secured["ripple/templates/NOTES.txt"]
    assert "WARNING" not in notes
    assert "get secret api -o jsonpath='{.data.token}'" in notes
