"""Loading: dispatch, multi-document files, and one test per kind of error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shared.api.core import ConfigMap, GenericObject, Secret
from shared.api.errors import DefinitionError, DefinitionErrors
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger
from shared.api.loading import check_text, dump_yaml, load_file, load_text, parse_object


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip()


ES = y(
    """
    apiVersion: lib.projectsveltos.io/v1beta1
    kind: EventSource
    metadata:
      name: svc
    spec:
      resourceSelectors:
      - group: ""
        version: v1
        kind: Service
        labelFilters:
        - key: a
          operation: Equal
          value: b
        - key: c
          operation: NotEqual
          value: d
    """
)


def error_of(text: str, source: str = "defs.yaml") -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        load_text(text, source)
    return info.value


def test_bad_label_operation_names_file_object_field_and_line() -> None:
    err = error_of(ES)
    assert err.field == "spec.resourceSelectors[0].labelFilters[1].operation"
    assert err.kind == "EventSource" and err.name == "svc"
    assert err.line == 15
    text = str(err)
    assert text.startswith("defs.yaml:15:7: EventSource/svc (document 1): ")
    assert "'Equal', 'Different', 'Has' or 'DoesNotHave'" in text
    assert "'NotEqual'" in text


def test_unknown_field_suggests_the_right_name() -> None:
    err = error_of(ES.replace("labelFilters:", "labelFilter:").replace("NotEqual", "Equal"))
    assert err.field == "spec.resourceSelectors[0].labelFilter"
    assert "unknown field" in err.reason
    assert "labelFilters" in err.reason


def test_unknown_top_level_field() -> None:
    err = error_of(ES.replace("NotEqual", "Equal") + "extra: 1\n")
    assert err.field == "extra"
    assert "unknown field" in err.reason


def test_metadata_allows_extra_fields() -> None:
    text = ES.replace("NotEqual", "Equal").replace(
        "  name: svc\n", "  name: svc\n  selfLink: /x\n  creationTimestamp: 2024-01-01T00:00:00Z\n"
    )
    [item] = load_text(text)
    assert item.obj.metadata.creation_timestamp == "2024-01-01T00:00:00Z"


def test_wrong_type() -> None:
    err = error_of(
        ES.replace("NotEqual", "Equal").replace("spec:\n", "spec:\n  collectResources: maybe\n")
    )
    assert err.field == "spec.collectResources"
    assert "boolean" in err.reason
    assert "'maybe'" in err.reason


def test_flat_form_errors_use_the_flat_path() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1alpha1
        kind: EventSource
        metadata: {name: flat}
        spec:
          version: v1
          kind: Service
          labelFilters:
          - {key: a, operation: Bogus, value: b}
        """
    )
    err = error_of(text)
    assert err.field == "spec.labelFilters[0].operation"
    assert err.line == 8


def test_flat_form_mixed_with_selectors() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1alpha1
        kind: EventSource
        metadata: {name: mixed}
        spec:
          kind: Service
          version: v1
          resourceSelectors: []
        """
    )
    err = error_of(text)
    assert err.field == "spec"
    assert "cannot be combined with resourceSelectors" in err.reason


def test_bad_selector_syntax_in_event_based_addon() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1alpha1
        kind: EventBasedAddOn
        metadata: {name: eba}
        spec:
          sourceClusterSelector: env in (fv
          eventSourceName: x
        """
    )
    err = error_of(text)
    assert err.field == "spec.sourceClusterSelector"
    assert "'env in (fv'" in err.reason and "')'" in err.reason
    assert err.line == 5


def test_selector_string_rejected_in_event_trigger() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1beta1
        kind: EventTrigger
        metadata: {name: et}
        spec:
          sourceClusterSelector: env=fv
        """
    )
    err = error_of(text)
    assert err.field == "spec.sourceClusterSelector"
    assert "v1alpha1" in err.reason


def test_bad_label_selector_operator() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1beta1
        kind: EventTrigger
        metadata: {name: et}
        spec:
          sourceClusterSelector:
            matchExpressions:
            - {key: env, operator: Equals, values: [fv]}
        """
    )
    err = error_of(text)
    assert err.field == "spec.sourceClusterSelector.matchExpressions[0].operator"


def test_several_problems_are_all_reported() -> None:
    text = ES.replace("    version: v1\n", "").replace("spec:\n", "spec:\n  collectResources: 3\n")
    with pytest.raises(DefinitionErrors) as info:
        load_text(text, "f.yaml")
    fields = [e.field for e in info.value.errors]
    assert "spec.collectResources" in fields
    assert "spec.resourceSelectors[0].version" in fields
    assert "spec.resourceSelectors[0].labelFilters[1].operation" in fields
    assert len(str(info.value).splitlines()) == len(fields)


def test_yaml_syntax_error_has_line_and_column() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n"
    err = error_of(text, "bad.yaml")
    assert err.line is not None and err.column is not None
    assert str(err).startswith(f"bad.yaml:{err.line}:{err.column}: ")
    assert "invalid YAML" in err.reason


def test_unquoted_template_is_a_clear_yaml_error() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1beta1
        kind: EventTrigger
        metadata:
          name: t
        spec:
          eventSourceName: {{ .Cluster.metadata.name }}
        """
    )
    err = error_of(text)
    assert "EventTrigger/t" in str(err)
    assert "quote" in err.reason
    assert err.line == 6


def test_duplicate_keys_are_rejected() -> None:
    err = error_of("apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n")
    assert "duplicate key 'kind'" in err.reason
    assert err.line == 3


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion", "missing"),
        ("apiVersion: v1\nmetadata: {name: x}\n", "kind", "missing"),
        ("apiVersion: v1\nkind: ConfigMap\n", "metadata", "missing"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: d}\n", "metadata.name", "missing"),
        (
            "apiVersion: lib.projectsveltos.io/v1beta1\nkind: EventTriger\nmetadata: {name: x}\n",
            "kind",
            "did you mean 'EventTrigger'",
        ),
        (
            "apiVersion: lib.projectsveltos.io/v1alpha1\nkind: EventTrigger\nmetadata: {name: x}\n",
            "apiVersion",
            "EventBasedAddOn",
        ),
        (
            "apiVersion: lib.projectsveltos.io/v1beta1\nkind: EventBasedAddOn\nmetadata: {name: x}\n",
            "apiVersion",
            "v1alpha1",
        ),
    ],
)
def test_object_identity_errors(text: str, field: str, fragment: str) -> None:
    err = error_of(text)
    assert err.field == field
    assert fragment in err.reason


def test_document_not_a_mapping() -> None:
    err = error_of("- a\n- b\n")
    assert "document 1" in str(err)
    assert "mapping" in err.reason


def test_multi_document_file(tmp_path: Path) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: {a: b}\n"
    sec = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData: {a: b}\n"
    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: eng}\n"
    bad = ES.replace("NotEqual", "Nope")
    path = tmp_path / "multi.yaml"
    path.write_text("---\n".join([cm, sec, "", ns, bad]))
    result = check_text(path.read_text(), str(path))
    assert [type(i.obj) for i in result.loaded] == [ConfigMap, Secret, GenericObject]
    assert [i.index for i in result.loaded] == [0, 1, 3]
    [err] = result.errors
    assert "EventSource/svc (document 5)" in str(err)
    with pytest.raises(DefinitionError):
        load_file(path)
    # the valid part alone loads
    path.write_text("---\n".join([cm, sec, ns]))
    assert len(load_file(path)) == 3


def test_json_file_and_list(tmp_path: Path) -> None:
    path = tmp_path / "defs.json"
    path.write_text(
        '{"apiVersion": "v1", "kind": "List", "items": ['
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},'
        '{"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "EventTrigger",'
        ' "metadata": {"name": "t"}, "spec": {"oneForEvent": true, "eventSourceName": "es"}}]}'
    )
    loaded = load_file(path)
    assert [i.ident() for i in loaded] == ["ConfigMap/a", "EventTrigger/t"]
    path.write_text("{not json")
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    assert "invalid JSON" in str(info.value) and info.value.line == 1


def test_empty_file_is_an_error() -> None:
    assert "empty" in error_of("# nothing\n").reason


def test_parse_object_dispatch() -> None:
    assert isinstance(
        parse_object({"apiVersion": "lib.projectsveltos.io/v1alpha1", "kind": "EventBasedAddOn",
                      "metadata": {"name": "a"}, "spec": {"sourceClusterSelector": "env=fv",
                                                         "eventSourceName": "es"}}),
        EventBasedAddOn,
    )  # fmt: skip
    obj = parse_object({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                        "spec": {"replicas": 1}})  # fmt: skip
    assert isinstance(obj, GenericObject) and obj.body() == {"spec": {"replicas": 1}}
    with pytest.raises(DefinitionError) as info:
        parse_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                      "data": {"k": "not base64!"}}, "api")  # fmt: skip
    assert info.value.field == "data" and str(info.value).startswith("api: Secret/s: data: ")


def test_secret_decoded() -> None:
    obj = parse_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                        "data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "z"}})  # fmt: skip
    assert isinstance(obj, Secret)
    assert obj.decoded() == {"a": "x", "b": "z"}


def test_defaults_applied() -> None:
    [es, et] = load_text(
        ES.replace("NotEqual", "Equal")
        + "---\napiVersion: lib.projectsveltos.io/v1beta1\nkind: EventTrigger\nmetadata: {name: t}\n"
        "spec:\n  eventSourceName: svc\n  policyRefs: [{name: p, kind: ConfigMap}]\n"
    )
    assert isinstance(es.obj, EventSource) and isinstance(et.obj, EventTrigger)
    assert es.obj.spec.collect_resources is False
    spec = et.obj.spec
    assert spec.one_for_event is False
    assert spec.stop_matching_behavior == "WithdrawPolicies"
    assert spec.sync_mode == "Continuous"
    assert spec.policy_refs[0].namespace == "" and spec.policy_refs[0].optional is False
    assert spec.policy_refs[0].deployment_type == "Remote"
    assert et.line == 18


def test_dump_yaml_looks_like_user_input() -> None:
    [item] = load_text(ES.replace("NotEqual", "Equal"))
    out = dump_yaml(item.obj)
    assert out.splitlines()[:4] == [
        "apiVersion: lib.projectsveltos.io/v1beta1",
        "kind: EventSource",
        "metadata:",
        "  name: svc",
    ]
    assert "collectResources" not in out  # default omitted
    assert "group" not in out  # "" is the default
    [again] = load_text(out)
    assert again.obj == item.obj
    multi = dump_yaml([item.obj, item.obj])
    assert len(load_text(multi)) == 2


def test_definition_errors_is_a_definition_error() -> None:
    first = DefinitionError("bad", source="a.yaml", kind="EventSource", name="x", field="spec")
    second = DefinitionError("worse", source="a.yaml", kind="EventSource", name="y", index=1)
    both = DefinitionErrors([first, second])
    assert isinstance(both, DefinitionError)
    assert both.field == "spec" and both.reason == "bad"
    assert str(both).splitlines() == [
        "a.yaml: EventSource/x: spec: bad",
        "a.yaml: EventSource/y (document 2): worse",
    ]


def test_iter_definition_files(tmp_path: Path) -> None:
    from shared.api.loading import iter_definition_files

    (tmp_path / "b").mkdir()
    for name in ("a.yaml", "b/c.yml", "b/d.json", "b/e.txt"):
        (tmp_path / name).write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_definition_files([tmp_path])]
    assert found == ["a.yaml", "b/c.yml", "b/d.json"]
    assert list(iter_definition_files([tmp_path / "b" / "e.txt"])) == [tmp_path / "b" / "e.txt"]
    with pytest.raises(FileNotFoundError):
        list(iter_definition_files([tmp_path / "missing"]))


def test_labels_filters_spelling_loads_with_a_warning() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1alpha1
        kind: EventSource
        metadata: {name: spec-text}
        spec:
          collectResources: true
          group: ""
          version: "v1"
          kind: "Service"
          labelsFilters:
          - key: sveltos
            operation: Equal
            value: fv
        """
    )
    [item] = load_text(text)
    assert isinstance(item.obj, EventSource)
    assert item.obj.spec.resource_selectors[0].label_filters[0].key == "sveltos"
    [warning] = item.warnings
    assert warning.startswith("spec.labelsFilters: read as labelFilters")


def test_helm_charts_and_kustomizations_load_without_warning() -> None:
    text = y(
        """
        apiVersion: lib.projectsveltos.io/v1beta1
        kind: EventTrigger
        metadata: {name: kyverno}
        spec:
          sourceClusterSelector: {matchLabels: {env: fv}}
          eventSourceName: sveltos-service
          helmCharts:
          - repositoryURL: https://kyverno.github.io/kyverno/
            repositoryName: kyverno
            chartName: kyverno/kyverno
            chartVersion: v3.0.1
            releaseName: kyverno-latest
            releaseNamespace: kyverno
            helmChartAction: Install
        """
    )
    [item] = load_text(text)
    assert item.warnings == []  # deployed by the agent through Helm's SDK
    spec = item.obj.spec
    text += "  kustomizationRefs:\n  - {name: kustomize, namespace: default, kind: ConfigMap}\n"
    [item] = load_text(text)
    assert item.warnings == []  # built with kustomize by the manager (docs/kustomize.md)
    assert spec.helm_charts[0].release_name == "kyverno-latest"


# -- YAML bounds (issue 16, item 3) ------------------------------------------------------------
def laughs(levels: int, name: str = "bomb") -> str:
    """A small document whose aliases expand to 10**levels values."""
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {name}",
        "data:",
        "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]",
    ]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_bounded_before_objects_are_built() -> None:
    import time

    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n" + laughs(9)
    assert len(text) < 2000
    started = time.perf_counter()
    result = check_text(text, "bomb.yaml")
    assert time.perf_counter() - started < 1.0
    assert [o.ident() for o in result.loaded] == ["ConfigMap/ok"]  # 10**9 values from 1 KB
    (error,) = result.errors
    assert "bomb.yaml" in str(error) and "document 2" in str(error)
    assert "expands to more than 100000 nodes with its aliases expanded" in str(error)
    small = check_text(laughs(4), "small.yaml")  # 10**4 values: read (then validated)
    assert small.errors and not any("YAML refused" in str(e) for e in small.errors)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &a [*a]\n", "an alias refers to a node that contains it"),
        ("[" * 900 + "]" * 900 + "\n", "nested"),
        ("k: " + "[" * 600 + "]" * 600 + "\n", "nested"),
    ],
)
def test_recursive_and_deep_documents_are_refused(text: str, reason: str) -> None:
    (error,) = check_text(text, "odd.yaml").errors
    assert "odd.yaml" in str(error) and "YAML refused" in str(error) and reason in str(error)


def test_document_and_text_sizes_are_bounded() -> None:
    from shared.api.yamlio import YamlLimits, YamlTooLarge, load_bounded

    small = YamlLimits(max_bytes=1000, max_text=4000)
    big_doc = "a: " + "x" * 2000 + "\n"
    with pytest.raises(YamlTooLarge, match=r"document 1: the document is 20\d\d bytes, over"):
        load_bounded("a: 1\n---\n" + big_doc, yaml_loader(), limits=small)
    with pytest.raises(YamlTooLarge, match="the text is 5000 bytes, over the limit of 4000"):
        load_bounded("#" * 4999 + "\n", yaml_loader(), limits=small)
    assert load_bounded("a: 1\n---\nb: 2\n", yaml_loader(), limits=small) == [{"a": 1}, {"b": 2}]
    assert load_bounded("a: 1\n---\n: [", yaml_loader(), first=True) == [{"a": 1}]
    assert load_bounded("", yaml_loader(), single=True) == []


def test_a_huge_json_definition_is_refused_with_its_size() -> None:
    (error,) = check_text('{"a": "' + "x" * (17 << 20) + '"}', "big.json").errors
    assert "big.json" in str(error) and "JSON refused" in str(error)


def yaml_loader() -> type:
    import yaml

    return yaml.SafeLoader
