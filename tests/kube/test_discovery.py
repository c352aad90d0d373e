"""Discovery on positive knowledge only (issue 12): ``KindNotServed`` only when discovery
answered completely and lacks the kind; every failed answer is ``DiscoveryFailed``, naming
the cluster, the URL and the status, and a later successful discovery resolves the kind."""

from __future__ import annotations

import pytest
import yaml

from shared.kube import GVK, DiscoveryFailed, KindNotServed, KubeClient
from tests.kube.conftest import Target, crd, wait_for

SERVICE = GVK("v1", "Service")
DEPLOYMENT = GVK("apps/v1", "Deployment")
JOB = GVK("batch/v1", "Job")
WIDGET = GVK("example.com/v1", "Widget")
CRD = GVK("apiextensions.k8s.io/v1", "CustomResourceDefinition")


def _failed(target: Target, gvk: GVK, path: str, status: int) -> DiscoveryFailed:
    client = target.client()
    with pytest.raises(DiscoveryFailed) as caught:
        client.resource(gvk)
    exc = caught.value
    assert not isinstance(exc, KindNotServed)
    assert exc.status == status
    assert exc.url == client.host + path
    message = str(exc)
    assert target.name in message and f"GET {client.host}{path}" in message, message
    assert str(status) in message and "is not served" not in message, message
    with pytest.raises(DiscoveryFailed):  # ``serves`` does not answer "no" either
        client.serves(gvk)
    return exc


def test_core_and_group_kinds_resolve(target: Target) -> None:
    client = target.client()
    svc = client.resource(SERVICE)
    assert (svc.name, svc.namespaced, svc.api_version) == ("services", True, "v1")
    assert client.path(SERVICE, "default", "web") == "/api/v1/namespaces/default/services/web"
    deploy = client.resource(DEPLOYMENT)
    assert "status" in deploy.subresources and "list" in deploy.verbs
    assert client.path(DEPLOYMENT) == "/apis/apps/v1/deployments"
    assert not client.namespaced(GVK("v1", "Namespace"))
    assert client.path(GVK("v1", "Namespace"), "default", "x") == "/api/v1/namespaces/x"


def test_a_really_absent_kind_is_not_served(target: Target) -> None:
    client = target.client()
    cases = {
        WIDGET: "does not list the group 'example.com'",  # no CRD: the group is absent
        GVK("apps/v9", "Deployment"): "lists versions v1 of apps",  # version absent
        GVK("apps/v1", "Gadget"): "/apis/apps/v1 does not list the kind",  # kind absent
        GVK("v1", "Gadget"): "/api/v1 does not list the kind",  # core kind absent
        GVK("v2", "Service"): "/api lists versions v1 of the core group",
    }
    for gvk, why in cases.items():
        with pytest.raises(KindNotServed) as caught:
            client.resource(gvk)
        assert f"{target.name}: {gvk} is not served" in str(caught.value), caught.value
        assert why in str(caught.value), caught.value
        assert caught.value.status == 404
        assert not client.serves(gvk)


def test_a_crd_created_later_is_found(target: Target) -> None:
    client = target.client()
    assert not client.serves(WIDGET)
    client.create(crd())
    wait_for(lambda: client.serves(WIDGET), what="the new CRD is served")
    assert client.path(WIDGET, "ns", "w") == "/apis/example.com/v1/namespaces/ns/widgets/w"
    with pytest.raises(KindNotServed, match=r"lists versions v1 of example\.com"):
        client.resource(GVK("example.com/v2", "Widget"))


def test_503_on_the_group_list_is_unknown(target: Target) -> None:
    target.fault("^/apis$", 503)
    _failed(target, DEPLOYMENT, "/apis", 503)
    _failed(target, WIDGET, "/apis", 503)  # even a group that is really absent
    target.client().resource(SERVICE)  # the core group does not depend on /apis


def test_503_on_the_core_group_list_is_unknown(target: Target) -> None:
    target.fault("^/api$", 503)
    _failed(target, GVK("v1", "Gadget"), "/api", 503)


def test_503_on_a_group_version_is_unknown(target: Target) -> None:
    target.fault("^/apis/apps/v1$", 503)
    _failed(target, DEPLOYMENT, "/apis/apps/v1", 503)
    _failed(target, GVK("apps/v1", "Gadget"), "/apis/apps/v1", 503)
    target.fault("^/api/v1$", 500)
    _failed(target, SERVICE, "/api/v1", 500)


def test_404_on_a_listed_group_version_is_unknown(target: Target) -> None:
    target.fault("^/apis/apps/v1$", 404)
    exc = _failed(target, DEPLOYMENT, "/apis/apps/v1", 404)
    assert "although" in str(exc) and "/apis lists apps/v1" in str(exc), exc


def test_403_is_unknown(target: Target) -> None:
    target.fault("^/apis$", 403)
    _failed(target, DEPLOYMENT, "/apis", 403)


def test_partial_discovery_one_group_failing(target: Target) -> None:
    """One group/version unavailable (an aggregated API down): its kinds are unknown, the
    other groups' kinds resolve."""
    target.fault("^/apis/batch/v1$", 503)
    client = target.client()
    assert client.resource(DEPLOYMENT).name == "deployments"
    with pytest.raises(DiscoveryFailed):
        client.resource(JOB)
    assert client.resource(CRD).namespaced is False


def test_transport_error_is_unknown(target: Target) -> None:
    config = yaml.safe_load(target.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1/clusters/nowhere"
    path = target.kubeconfig.with_name(f"{target.name}-unreachable.yaml")
    path.write_text(yaml.safe_dump(config))
    client = KubeClient(str(path), name=target.name)
    target.clients.append(client)
    with pytest.raises(DiscoveryFailed) as caught:
        client.resource(DEPLOYMENT)
    assert caught.value.status == 0 and "no answer" in str(caught.value)
    assert "https://127.0.0.1:1/clusters/nowhere/apis" in str(caught.value)
    with pytest.raises(DiscoveryFailed):
        client.dynamic  # noqa: B018 (the warm-up property raises too)


def test_recovery_after_the_fault_is_cleared(target: Target) -> None:
    """No poisoned cache: the same client resolves the kind once discovery answers."""
    client = target.client()
    target.fault("^/apis/apps/v1$", 503)
    for _ in range(2):
        with pytest.raises(DiscoveryFailed):
            client.resource(DEPLOYMENT)
    target.fleet.clear_faults()
    assert client.resource(DEPLOYMENT).name == "deployments"
    target.fault("^/apis", 503)  # the group list and every group/version
    client.forget(DEPLOYMENT)
    with pytest.raises(DiscoveryFailed):
        client.resource(GVK("apps/v1", "ReplicaSet"))
    target.fleet.clear_faults()
    assert client.resource(GVK("apps/v1", "ReplicaSet")).name == "replicasets"


def test_resolved_kinds_are_cached(target: Target) -> None:
    client = target.client()
    client.resource(DEPLOYMENT)
    target.fault("^/apis", 503)  # every discovery document fails from now on
    for _ in range(3):
        assert client.path(DEPLOYMENT) == "/apis/apps/v1/deployments"
    assert client.resource(GVK("apps/v1", "StatefulSet")).name == "statefulsets"  # same list
    assert len(target.requests("/apis/apps/v1")) == 1  # fetched once, then cached
    client.forget(DEPLOYMENT)
    with pytest.raises(DiscoveryFailed):
        client.resource(DEPLOYMENT)
