"""kustomizationRefs of ConfigMaps/Secrets built by kustomize (kubectl's, v5), as Sveltos
builds them: the archive in binaryData/data, ``path``, ``components``, ``targetNamespace``,
the substitute values, the references; refusals (remote bases, paths outside the archive)
before kustomize runs; one build for many instances."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from services.manager import kustomize, kustomizing
from services.manager.errors import InstantiationError
from services.manager.model import ClusterInfo, ClusterKey
from services.manager.profiles import Origin
from tests.manager.kustomize_fixtures import (
    BASE,
    archive,
    configmap,
    index,
    secret,
    values_configmap,
)

SOURCE = ClusterInfo(
    ClusterKey("fleet", "c1", "sveltos"),
    {"region": "eu"},
    {"metadata": {"name": "c1", "namespace": "fleet", "labels": {"region": "eu"}}},
)
OWNER = "EventTrigger/web"


def data(name: str = "prod") -> dict[str, Any]:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "apps"}}
    ref = {"apiVersion": "v1", "kind": "Service", "namespace": "apps", "name": name}
    return {"Resource": obj, "MatchingResource": ref, "Cluster": SOURCE.obj}


def entry(**fields: Any) -> dict[str, Any]:
    return {"kind": "ConfigMap", "namespace": "default", "name": "kust", **fields}


def build(*entries: dict[str, Any], refs: Any = None, inst: Any = None) -> list[Any]:
    spec = {"kustomizationRefs": list(entries)}
    refs = index(configmap("kust", BASE)) if refs is None else refs
    return kustomizing.kustomization_sources(spec, OWNER, SOURCE, inst or data(), refs)


@pytest.fixture(autouse=True)
def fresh_memory() -> Iterator[None]:
    kustomize.clear_memory()
    yield
    kustomize.clear_memory()


def by_kind(out: list[Any]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m, _ in out}


def test_configmap_archive_is_built_at_its_templated_path_with_components() -> None:
    out = build(
        entry(
            name="{{ if true }}kust{{ end }}",
            path="overlays/{{ .Resource.metadata.name }}",
            targetNamespace="{{ .Resource.metadata.namespace }}",
            components=["../../components/monitoring"],
            tier=40,
            skipNamespaceCreation=True,
        )
    )
    objs = by_kind(out)
    assert set(objs) == {"Namespace", "Service", "Deployment"}
    deployment = objs["Deployment"]
    assert deployment["metadata"]["name"] == "prod-web"  # the overlay's namePrefix
    assert deployment["spec"]["replicas"] == 3  # the overlay's own patch
    assert deployment["metadata"]["labels"]["monitoring"] == "on"  # the component
    # targetNamespace: every namespaced object, not the cluster-scoped Namespace
    assert deployment["metadata"]["namespace"] == "apps"
    assert objs["Service"]["metadata"]["namespace"] == "apps"
    assert "namespace" not in objs["Namespace"]["metadata"]
    origins = {r for _, r in out}
    assert origins == {
        Origin(
            "ConfigMap",
            "default",
            "kust",
            tier=40,
            reason="Kustomize",
            skip_namespace_creation=True,
        )
    }
    (origin,) = origins
    assert isinstance(origin, Origin)
    [shown] = origin.entries
    assert shown["path"] == "overlays/prod" and shown["targetNamespace"] == "apps"
    assert shown["name"] == "kust" and shown["deploymentType"] == "Remote"


def test_values_substitute_templates_in_the_output_in_sveltos_order() -> None:
    region = values_configmap(
        "region",
        {"Region": "from-{{ .Cluster.metadata.name }}"},
        **{"projectsveltos.io/instantiate": "x"},
    )
    plain = values_configmap("plain", {"Zone": "{{ not rendered }}"})
    refs = index(configmap("kust", BASE), region, plain)
    out = build(
        entry(
            path="base",
            values={"Region": "west-{{ .Resource.metadata.name }}", "Zone": "z1"},
            valuesFrom=[
                {"kind": "ConfigMap", "name": "region"},
                {"kind": "ConfigMap", "namespace": "default", "name": "plain"},
                {"kind": "ConfigMap", "name": "gone", "optional": True},
            ],
        ),
        refs={**refs, ("ConfigMap", "fleet", "region"): region},
    )
    service = by_kind(out)["Service"]
    # values < instantiated valuesFrom (rendered with the event) < plain valuesFrom
    assert service["metadata"]["annotations"]["region"] == "from-c1"
    [shown] = out[0][1].entries
    assert shown["valuesFrom"][0]["namespace"] == "fleet"  # empty: the source cluster's
    assert shown["values"]["Region"] == "west-prod"


def test_a_missing_value_in_the_output_names_the_document() -> None:
    with pytest.raises(InstantiationError) as err:
        build(entry(path="base", values={"Other": "x"}))
    message = str(err.value)
    assert "EventTrigger/web kustomizationRefs[0] (ConfigMap default/kust)" in message
    assert "Region" in message


def test_a_secret_source_and_its_type() -> None:
    out = build(
        entry(kind="Secret", name="kust-secret", path="base"),
        refs=index(secret("kust-secret", BASE)),
    )
    assert {m["kind"] for m, _ in out} == {"Deployment", "Service"}
    assert {r.kind for _, r in out} == {"Secret"}
    with pytest.raises(InstantiationError, match="Secret type 'Opaque' is not supported"):
        build(
            entry(kind="Secret", name="kust-secret", path="base"),
            refs=index(secret("kust-secret", BASE, stype="Opaque")),
        )


def test_missing_sources_flux_sources_and_missing_archive_keys() -> None:
    with pytest.raises(
        InstantiationError, match=r"kustomizationRefs\[0\]: ConfigMap default/nope not found"
    ):
        build(entry(name="nope"))
    assert build(entry(name="nope", optional=True)) == []
    assert (
        build({"kind": "GitRepository", "namespace": "flux", "name": "repo", "path": "./x"}) == []
    )
    bare = values_configmap("kust", {"a": "b"})
    with pytest.raises(InstantiationError, match=r"no binaryData key 'kustomize\.tar\.gz'"):
        build(entry(), refs=index(bare))


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (
            {"kustomization.yaml": "resources:\n- https://github.com/org/repo//base?ref=v1\n"},
            "remote base",
        ),
        ({"kustomization.yaml": "resources:\n- github.com/org/repo/base\n"}, "remote base"),
        ({"kustomization.yaml": "resources:\n- ../../../../etc\n"}, "outside of the archive"),
        (
            {"kustomization.yaml": "configMapGenerator:\n- name: x\n  files: [k=/etc/passwd]\n"},
            "outside of the archive",
        ),
        ({"kustomization.yaml": "resources: [missing.yaml]\n"}, "not a file or directory"),
        ({"kustomization.yaml": "helmCharts:\n- name: x\n"}, "helmCharts is not supported"),
        ({"base/kustomization.yaml": "resources: []\n"}, "no kustomization.yaml in '.'"),
    ],
)
def test_what_would_leave_the_archive_is_refused_before_kustomize_runs(
    files: dict[str, str], reason: str
) -> None:
    before = kustomize.counters["builds"]
    with pytest.raises(InstantiationError, match=reason) as err:
        build(entry(), refs=index(configmap("kust", files)))
    assert "EventTrigger/web kustomizationRefs[0] (ConfigMap default/kust, path '.')" in str(
        err.value
    )
    assert " for Service apps/prod" in str(err.value)  # the instance
    assert kustomize.counters["builds"] == before  # kustomize never ran


def test_kustomize_errors_carry_kustomizes_own_message_and_are_remembered() -> None:
    broken = {"kustomization.yaml": "resources: [a.yaml]\n", "a.yaml": "kind: [\n"}
    refs = index(configmap("kust", broken))
    with pytest.raises(InstantiationError, match="kustomize build failed: ") as err:
        build(entry(), refs=refs)
    assert "a.yaml" in str(err.value) and "ripple-kustomize-" not in str(err.value)
    builds = kustomize.counters["builds"]
    with pytest.raises(InstantiationError, match="kustomize build failed: "):
        build(entry(), refs=refs, inst=data("other"))
    assert kustomize.counters["builds"] == builds  # the failure is remembered


def test_one_build_for_many_instances() -> None:
    builds = kustomize.counters["builds"]
    names = set()
    for i in range(50):
        out = build(entry(path="base", values={"Region": f"r{i}"}), inst=data(f"s{i}"))
        names.add(by_kind(out)["Service"]["metadata"]["annotations"]["region"])
    assert len(names) == 50
    assert kustomize.counters["builds"] == builds + 1


def test_an_uncompressed_tar_and_macos_sidecars() -> None:
    files = {**BASE, "base/._service.yaml": "\x00\x05binary"}
    obj = configmap("kust", {})
    obj["binaryData"]["kustomize.tar.gz"] = base64.b64encode(archive(files, gzip=False)).decode()
    out = build(entry(path="base", values={"Region": "x"}), refs=index(obj))
    assert len(out) == 2


def test_the_manager_watches_what_kustomization_refs_name() -> None:
    spec = {
        "kustomizationRefs": [
            entry(valuesFrom=[{"kind": "Secret", "name": "{{ .Cluster.metadata.name }}-v"}])
        ]
    }
    assert kustomizing.referenced(spec, "ConfigMap", "kust")
    assert not kustomizing.referenced(spec, "ConfigMap", "other")
    assert kustomizing.referenced(spec, "Secret", "anything")  # a template may name it
    assert not kustomizing.referenced({}, "ConfigMap", "kust")


def test_a_build_is_bounded_in_time_and_output() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    with pytest.raises(InstantiationError, match="output is over"):
        kustomize._run(["/bin/sh", "-c", "yes"], env, "/", 5.0)
    with pytest.raises(InstantiationError, match=r"did not finish within 0\.2 s"):
        kustomize._run(["/bin/sh", "-c", "exec sleep 30"], env, "/", 0.2)
    code, out, err = kustomize._run(["/bin/sh", "-c", "echo out; echo err >&2"], env, "/", 5.0)
    assert (code, out, err) == (0, b"out\n", b"err\n")


def test_without_kubectl_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kustomize.sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InstantiationError, match="kustomize needs kubectl"):
        kustomize.kubectl()


def test_a_failure_of_the_machine_is_an_error_remembered_for_a_while() -> None:
    def full_disk() -> str:
        raise OSError(28, "No space left on device")

    with pytest.raises(InstantiationError, match=r"could not run: .*No space left on device"):
        kustomize.memoized("machine", full_disk)
    ok, _, until = kustomize._memo["machine"]
    assert not ok and until > 0  # tried again after TIMEOUT_MEMORY, not remembered for good
    with pytest.raises(InstantiationError, match="No space left"):
        kustomize.memoized("machine", lambda: "built")  # within the memory: the same error
