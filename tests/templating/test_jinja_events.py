"""render_event_template (Go and Jinja flavours), the flavour annotation, the Jinja sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from shared.templating import (
    FLAVOUR_ANNOTATION,
    Limits,
    TemplateExecError,
    TemplateLimitError,
    TemplateSyntaxError,
    flavour_of,
    render_event_template,
)

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "my-service", "namespace": "front-end"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 443}, {"port": 80}]},
}
REF = {"apiVersion": "v1", "kind": "Service", "namespace": "front-end", "name": "my-service"}


def test_go_flavour_with_sveltos_data() -> None:
    got = render_event_template(
        "{{ .Resource.metadata.name }}/{{ .MatchingResource.Namespace }}/"
        "{{ .MatchingResource.Kind }}/{{ .MatchingResource.APIVersion }}",
        {"Resource": SERVICE, "MatchingResource": REF},
    )
    assert got == "my-service/front-end/Service/v1"


def test_integers_stay_integers() -> None:
    # Sveltos decodes JSON numbers as float64, so `eq .port 443` fails there
    got = render_event_template(
        "{{ range .Resource.spec.ports }}{{ if eq .port 443 }}https{{ end }}{{ end }}",
        {"Resource": SERVICE},
    )
    assert got == "https"


def test_missing_key_is_an_error() -> None:
    with pytest.raises(TemplateExecError, match='map has no entry for key "nope"'):
        render_event_template("{{ .Resource.nope }}", {"Resource": SERVICE})


def test_matching_resource_is_a_struct() -> None:
    with pytest.raises(TemplateExecError, match="can't evaluate field name"):
        render_event_template("{{ .MatchingResource.name }}", {"MatchingResource": REF})
    got = render_event_template("{{ .MatchingResource }}", {"MatchingResource": REF})
    assert got == "{Service front-end my-service  v1  }"


def test_all_resources_data() -> None:
    got = render_event_template(
        "{{ range .MatchingResources }}{{ .Name }};{{ end }}{{ len .Resources }}",
        {"Resources": [SERVICE], "MatchingResources": [REF]},
    )
    assert got == "my-service;1"


def test_error_names_the_template() -> None:
    with pytest.raises(TemplateExecError, match=r"^template: ns-c1-trigger:1:"):
        render_event_template("{{ .Nope }}", {}, name="ns-c1-trigger")


def test_flavour_annotation() -> None:
    assert flavour_of(None) == "go"
    assert flavour_of({FLAVOUR_ANNOTATION: "jinja"}) == "jinja"
    assert flavour_of({FLAVOUR_ANNOTATION: "go"}) == "go"
    with pytest.raises(ValueError, match="unknown template flavour"):
        flavour_of({FLAVOUR_ANNOTATION: "mustache"})


def test_jinja_flavour_same_data() -> None:
    got = render_event_template(
        "front-{{ Resource.metadata.name }} {{ MatchingResource.Kind }}"
        "{% for p in Resource.spec.ports %} {{ p.port }}{% endfor %}",
        {"Resource": SERVICE, "MatchingResource": REF},
        flavour="jinja",
    )
    assert got == "front-my-service Service 443 80"


def test_jinja_is_strict() -> None:
    with pytest.raises(TemplateExecError, match="no attribute 'nope'"):
        render_event_template("{{ Resource.nope }}", {"Resource": SERVICE}, flavour="jinja")


def test_jinja_syntax_error() -> None:
    with pytest.raises(TemplateSyntaxError, match="jinja template tpl:1"):
        render_event_template("{% for %}", {}, flavour="jinja")


@pytest.mark.parametrize(
    "text",
    [
        "{{ Resource.__class__ }}",
        "{{ Resource.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ Resource.update({'a': 1}) }}",  # data is immutable
        "{{ Resource.spec.ports.append(1) }}",
    ],
)
def test_jinja_sandbox_blocks_internals(text: str) -> None:
    with pytest.raises(TemplateExecError):
        render_event_template(text, {"Resource": SERVICE}, flavour="jinja")


@pytest.mark.parametrize("name", ["env", "expandenv", "getHostByName", "os", "lookup"])
def test_no_environment_access(name: str) -> None:
    with pytest.raises((TemplateExecError, TemplateSyntaxError)):
        render_event_template("{{ " + name + '("HOME") }}', {}, flavour="jinja")
    with pytest.raises(TemplateSyntaxError):
        render_event_template("{{ " + name + ' "HOME" }}', {})


def test_jinja_loops_are_bounded() -> None:
    with pytest.raises(TemplateLimitError, match="loop iterations"):
        render_event_template(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            {},
            flavour="jinja",
        )


def test_jinja_output_is_bounded() -> None:
    with pytest.raises(TemplateLimitError, match="output exceeds"):
        render_event_template(
            "{% for i in range(1000) %}0123456789{% endfor %}",
            {},
            flavour="jinja",
            limits=Limits(max_output=500),
        )


def test_unknown_flavour() -> None:
    with pytest.raises(ValueError, match="unknown template flavour"):
        render_event_template("x", {}, flavour="mustache")


@pytest.mark.parametrize("flavour", ["go", "jinja"])
def test_helpers_work_on_copies(flavour: str) -> None:
    data = {"Resource": {"metadata": {"name": "original", "labels": {"a": "b"}}}}
    text = (
        '{{ $r := chainSetField .Resource "metadata.name" "x" }}{{ $_ := set .Resource "k" "v" }}'
        "{{ .Resource.metadata.name }}"
        if flavour == "go"
        else '{{ chainSetField(Resource, "metadata.name", "x") and "" }}'
        '{{ set(Resource, "k", "v") and "" }}{{ Resource.metadata.name }}'
    )
    out = render_event_template(text, data, flavour=flavour)
    assert out.strip() == "original" or out.endswith("original")
    assert data == {"Resource": {"metadata": {"name": "original", "labels": {"a": "b"}}}}


def test_jinja_errors_name_the_line() -> None:
    with pytest.raises(TemplateExecError, match=r"^jinja template t:3: 'dict object' has no"):
        render_event_template("a\n\n{{ Resource.x }}", {"Resource": {}}, flavour="jinja", name="t")
