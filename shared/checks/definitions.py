"""The static checks of one definition (EventSource, EventTrigger, EventBasedAddOn), over the object as the user wrote it (so each path points into the file).

* EventSource: every Lua script (``resourceSelectors[i].evaluate``, the v1alpha1 flat
  ``evaluate``/``script``, ``aggregatedSelection``) compiled in the agent's sandbox, and
  every ``messagingMatchCriteria`` regular expression (Go's syntax): errors (a script that
  does not compile fails every evaluation, in Sveltos as here); every
  ``evaluateCEL`` rule compiled: a warning (Sveltos counts a rule that does not compile as
  false, and so does the agent).
* Triggers: every field the manager renders as a Go template (sveltos-semantics 4.1, 4.6)
  parsed: an error (every instance would fail to render); a root key it reads that its data
  will not have (:mod:`shared.checks.datakeys`): a warning; the fields Ripple accepts and does
  not act on (:mod:`shared.api.support`): warnings; ``cloudEventAction`` without
  ``oneForEvent``: a warning (Sveltos ignores it then).

:func:`check_definition` never raises for bad input: what it cannot read it skips (the
models report structure problems).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from shared.api.support import ACCEPTED_NOT_SUPPORTED, unsupported_fields
from shared.api.vocabulary import EVENT_BASED_ADDON, EVENT_SOURCE, EVENT_TRIGGER
from shared.checks import compilers, datakeys
from shared.checks.problems import Problem

Path = tuple[str | int, ...]

TRIGGER_KINDS = (EVENT_TRIGGER.kind, EVENT_BASED_ADDON.kind)

#: the v1alpha1 flat EventSource keys that say "this spec is one selector"
_FLAT_KEYS = ("kind", "version", "group", "script", "evaluate", "evaluateCEL")

#: messagingMatchCriteria fields that are Go regular expressions (sveltos-semantics 4.8)
MESSAGING_REGEXP_FIELDS = ("subject", "cloudEventSource", "cloudEventType", "cloudEventSubject")
#: helmCharts string fields rendered one by one (sveltos-semantics 4.6)
HELM_TEMPLATE_FIELDS = (
    "repositoryURL", "repositoryName", "chartName", "chartVersion", "releaseName",
    "releaseNamespace", "values",
)  # fmt: skip
KUSTOMIZATION_TEMPLATE_FIELDS = ("namespace", "name", "path", "targetNamespace")
DESTINATION_FIELDS = ("namespace", "name", "kind", "apiVersion")
REF_TEMPLATE_FIELDS = ("namespace", "name", "path")
GENERATOR_TEMPLATE_FIELDS = ("namespace", "name", "nameFormat")


def check_definition(obj: Mapping[str, Any]) -> list[Problem]:
    """Every problem of one definition found without running it (errors first)."""
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return []
    if kind == EVENT_SOURCE.kind:
        problems = list(_event_source(spec))
    elif kind in TRIGGER_KINDS:
        problems = list(_trigger(spec))
    else:
        return []
    problems.extend(
        Problem(u.path, f"{ACCEPTED_NOT_SUPPORTED}: {u.instead}", "warning")
        for u in unsupported_fields(obj)
    )
    return sorted(problems, key=lambda p: p.severity != "error")


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


# --- EventSource ------------------------------------------------------------------------------


def _event_source(spec: Mapping[str, Any]) -> Iterator[Problem]:
    selectors: list[tuple[Path, Any]] = []
    if any(k in spec for k in _FLAT_KEYS) and "resourceSelectors" not in spec:
        selectors.append((("spec",), spec))
    elif isinstance(spec.get("resourceSelectors"), list):
        selectors.extend(
            (("spec", "resourceSelectors", i), sel)
            for i, sel in enumerate(spec["resourceSelectors"])
        )
    for where, sel in selectors:
        if not isinstance(sel, Mapping):
            continue
        for key in ("evaluate", "script"):
            yield from _lua((*where, key), sel.get(key))
        rules = sel.get("evaluateCEL")
        if isinstance(rules, list):
            for j, rule in enumerate(rules):
                if isinstance(rule, Mapping) and isinstance(rule.get("rule"), str):
                    failure = compilers.cel(rule["rule"])
                    if failure is not None:
                        yield Problem(
                            (*where, "evaluateCEL", j, "rule"),
                            f"rule {rule.get('name') or j!s} does not compile, so it counts "
                            f"as false (as in Sveltos): {failure.message}",
                            "warning",
                            failure.line,
                        )
    yield from _lua(("spec", "aggregatedSelection"), spec.get("aggregatedSelection"))
    criteria = spec.get("messagingMatchCriteria")
    for i, criterion in enumerate(criteria if isinstance(criteria, list) else []):
        if not isinstance(criterion, Mapping):
            continue
        for key in MESSAGING_REGEXP_FIELDS:
            pattern = criterion.get(key)
            if isinstance(pattern, str) and pattern:
                failure = compilers.go_regexp(pattern)
                if failure is not None:
                    yield Problem(("spec", "messagingMatchCriteria", i, key), failure.message)


def _lua(path: Path, code: Any) -> Iterator[Problem]:
    if isinstance(code, str) and code.strip():
        failure = compilers.lua(code)
        if failure is not None:
            yield Problem(path, f"Lua does not compile: {failure.message}", "error", failure.line)


# --- triggers ----------------------------------------------------------------------------------

#: the data keys of a template's renders, and the words that say why
Data = tuple[tuple[str, ...], str]


def _template(path: Path, text: Any, data: Data) -> Iterator[Problem]:
    """A field the manager renders as a Go template (trigger fields are always Go), and the
    root keys it reads that its data does not have."""
    if not (isinstance(text, str) and "{{" in text):
        return
    failure = compilers.go_template(text)
    if failure is not None:
        yield Problem(path, f"template does not parse: {failure.message}", "error", failure.line)
        return
    keys, context = data
    for name in datakeys.missing_keys(text, keys):
        yield Problem(path, datakeys.describe(name, keys, context=context), "warning")


def _fields(path: Path, entry: Any, names: tuple[str, ...], data: Data) -> Iterator[Problem]:
    if isinstance(entry, Mapping):
        for name in names:
            yield from _template((*path, name), entry.get(name), data)


def _entries(spec: Mapping[str, Any], key: str) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    value = spec.get(key)
    if isinstance(value, list):
        for i, entry in enumerate(value):
            if isinstance(entry, Mapping):
                yield ("spec", key, i), entry


def _values_from(path: Path, entry: Mapping[str, Any], data: Data) -> Iterator[Problem]:
    value = entry.get("valuesFrom")
    if isinstance(value, list):
        for j, vf in enumerate(value):
            yield from _fields((*path, "valuesFrom", j), vf, ("namespace", "name"), data)


def _trigger(spec: Mapping[str, Any]) -> Iterator[Problem]:
    data = datakeys.event_keys(dict(spec))
    yield from _template(
        ("spec", "eventSourceName"),
        spec.get("eventSourceName"),
        (datakeys.EVENT_SOURCE_NAME_KEYS, "of eventSourceName"),
    )
    for key in ("profileNameFormat", "cloudEventAction"):
        yield from _template(("spec", key), spec.get(key), data)
    destination = spec.get("destinationCluster")
    yield from _fields(("spec", "destinationCluster"), destination, DESTINATION_FIELDS, data)
    for path, ref in _entries(spec, "policyRefs"):
        yield from _fields(path, ref, REF_TEMPLATE_FIELDS, data)
    for path, chart in _entries(spec, "helmCharts"):
        yield from _fields(path, chart, HELM_TEMPLATE_FIELDS, data)
        yield from _values_from(path, chart, data)
    for path, kustomization in _entries(spec, "kustomizationRefs"):
        yield from _fields(path, kustomization, KUSTOMIZATION_TEMPLATE_FIELDS, data)
        components = kustomization.get("components")
        if isinstance(components, list):
            for k, text in enumerate(components):
                yield from _template((*path, "components", k), text, data)
        values = kustomization.get("values")
        if isinstance(values, Mapping):
            for name, text in values.items():
                yield from _template((*path, "values", str(name)), text, data)
        yield from _values_from(path, kustomization, data)
    for path, ref in _entries(spec, "templateResourceRefs"):
        yield from _fields((*path, "resource"), ref.get("resource"), ("namespace", "name"), data)
    for key in ("configMapGenerator", "secretGenerator"):
        for path, gen in _entries(spec, key):
            yield from _fields(path, gen, GENERATOR_TEMPLATE_FIELDS, data)
    action = spec.get("cloudEventAction")
    if isinstance(action, str) and action.strip() and spec.get("oneForEvent") is not True:
        yield Problem(
            ("spec", "cloudEventAction"),
            "honoured only with oneForEvent: true (as in Sveltos); ignored here",
            "warning",
        )
