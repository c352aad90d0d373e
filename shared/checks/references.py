"""The ConfigMaps and Secrets a trigger renders, and their templates checked.

:func:`references` lists what a trigger would render from a referenced object: its
``policyRefs`` and the ``valuesFrom`` of its helmCharts and kustomizationRefs (rendered when
the trigger instantiates the object: an EventBasedAddOn always, an EventTrigger when the
object is annotated ``projectsveltos.io/instantiate``, sveltos-semantics 4.5) and the sources
of ``configMapGenerator``/``secretGenerator`` (always rendered, 4.7). A reference whose
namespace or name is a template cannot be resolved without an event and is skipped; an empty
namespace (the source cluster's) matches the object in any namespace.

:func:`check_reference` parses each ``data`` key of one such object in the flavour it asks
for (``ripple.io/template-flavour``: Go unless ``jinja``). A policyRef's object annotated
``projectsveltos.io/template`` and not instantiated is parsed as the manager's second pass
(addon-controller's) renders it (:func:`addon_template`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shared.api.vocabulary import (
    CONFIG_MAP,
    EVENT_BASED_ADDON,
    FLAVOUR_ANNOTATION,
    INSTANTIATE_ANNOTATION,
    LEGACY_TEMPLATE_ANNOTATION,
    SECRET,
)
from shared.checks import compilers, datakeys
from shared.checks.problems import Problem
from shared.templating import flavour_of

Path = tuple[str | int, ...]
Data = tuple[tuple[str, ...], str]


@dataclass(frozen=True, slots=True)
class Reference:
    """One object a trigger names: where (in the trigger), what, and whether it is rendered
    whatever its annotations (generators)."""

    path: Path
    kind: str
    namespace: str  # "" = the source cluster's namespace (any, for a check)
    name: str
    always_rendered: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata")
        if obj.get("kind") != self.kind or not isinstance(meta, Mapping):
            return False
        if meta.get("name") != self.name:
            return False
        return not self.namespace or (meta.get("namespace") or "default") == self.namespace


def _literal(value: Any) -> str | None:
    return value if isinstance(value, str) and "{{" not in value else None


def _ref(path: Path, entry: Any, kind: Any, always: bool = False) -> Iterator[Reference]:
    if not isinstance(entry, Mapping) or kind not in (CONFIG_MAP.kind, SECRET.kind):
        return
    namespace, name = _literal(entry.get("namespace", "")), _literal(entry.get("name"))
    if namespace is not None and name:
        yield Reference(path, str(kind), namespace, name, always)


def references(trigger: Mapping[str, Any]) -> list[Reference]:
    """The ConfigMaps/Secrets ``trigger`` (an EventTrigger/EventBasedAddOn as a dict) may
    render, those with a literal namespace and name."""
    spec = trigger.get("spec")
    if not isinstance(spec, Mapping):
        return []
    out: list[Reference] = []

    def entries(key: str) -> Iterator[tuple[Path, Mapping[str, Any]]]:
        value = spec.get(key)
        for i, entry in enumerate(value if isinstance(value, list) else []):
            if isinstance(entry, Mapping):
                yield ("spec", key, i), entry

    for path, ref in entries("policyRefs"):
        out.extend(_ref(path, ref, ref.get("kind")))
    for key in ("helmCharts", "kustomizationRefs"):
        for path, entry in entries(key):
            values_from = entry.get("valuesFrom")
            for j, vf in enumerate(values_from if isinstance(values_from, list) else []):
                if isinstance(vf, Mapping):
                    out.extend(_ref((*path, "valuesFrom", j), vf, vf.get("kind")))
    for key, kind in (("configMapGenerator", CONFIG_MAP.kind), ("secretGenerator", SECRET.kind)):
        for path, gen in entries(key):
            out.extend(_ref(path, gen, kind, always=True))
    return out


def renders(trigger: Mapping[str, Any], ref: Reference, obj: Mapping[str, Any]) -> bool:
    """Whether ``trigger`` renders ``obj`` (found for ``ref``) as a template."""
    if ref.always_rendered or trigger.get("kind") == EVENT_BASED_ADDON.kind:
        return True
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return isinstance(annotations, Mapping) and INSTANTIATE_ANNOTATION in annotations


def addon_template(ref: Reference, obj: Mapping[str, Any]) -> bool:
    """Whether ``obj``, found for a policyRef, is rendered by the manager's second pass (as
    Sveltos' addon-controller renders content annotated ``projectsveltos.io/template``: Go,
    its own functions, data ``.Cluster`` and ``.MgmtResources``)."""
    if ref.path[:2] != ("spec", "policyRefs"):
        return False
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return isinstance(annotations, Mapping) and LEGACY_TEMPLATE_ANNOTATION in annotations


def check_reference(
    obj: Mapping[str, Any], *, addon: bool = False, data: Data | None = None
) -> list[Problem]:
    """Each data key of a ConfigMap/Secret parsed in its flavour (``addon``: as the second
    pass parses it, Go with addon-controller's functions); a Secret's ``data`` is decoded
    first (its lines are then those of the decoded value). ``data``: the keys of the
    template data its renders get (the second pass's when ``addon``), and why; a key read
    that is not among them is a warning."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    try:
        flavour = flavour_of(annotations if isinstance(annotations, Mapping) else None)
    except ValueError as exc:
        path: Path = ("metadata", "annotations", FLAVOUR_ANNOTATION)
        return [Problem(path, str(exc).split(": ", 1)[-1], "error")]
    funcs, what = "sveltos", "Jinja2 template" if flavour == "jinja" else "template"
    keys, context = data or ((), "")
    if addon:  # the second pass: Go, addon-controller's functions and data
        flavour, funcs, what = "go", "sveltos-addon", "template (projectsveltos.io/template)"
        keys, context = datakeys.ADDON_KEYS, "of the second pass"
    problems: list[Problem] = []
    for path, decoded, text in _entries(obj):
        if not isinstance(text, str) or (flavour == "go" and "{{" not in text):
            continue
        if flavour == "go":
            failure = compilers.go_template(text, funcs)
        else:
            failure = compilers.jinja_template(text)
        if failure is None:
            for name in datakeys.missing_keys(text, keys, flavour, funcs) if keys else ():
                message = datakeys.describe(name, keys, flavour, context)
                problems.append(Problem(path, message, "warning"))
            continue
        message = f"{what} does not parse: {failure.message}"
        if decoded:  # lines of the decoded value are no lines of the file
            at = f"line {failure.line} of " if failure.line is not None else ""
            problems.append(Problem(path, f"{message} ({at}the base64-decoded value)"))
        else:
            problems.append(Problem(path, message, "error", failure.line))
    return problems


def _entries(obj: Mapping[str, Any]) -> Iterator[tuple[Path, bool, Any]]:
    """(path, decoded, text) of each data entry; a Secret's ``data`` decoded."""
    secret = obj.get("kind") == SECRET.kind
    data = obj.get("data")
    if isinstance(data, Mapping):
        for key, value in data.items():
            path: Path = ("data", str(key))
            if not secret:
                yield path, False, value
                continue
            try:
                text = base64.b64decode(str(value), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue  # the manager reports it when it reads the Secret
            yield path, True, text
    string_data = obj.get("stringData") if secret else None
    if isinstance(string_data, Mapping):
        for key, value in string_data.items():
            yield ("stringData", str(key)), False, value
