"""Sveltos event templates: the data model the manager renders with, and the entry point.

Data keys are Sveltos' (``.Resource``, ``.Resources``, ``.MatchingResource``,
``.MatchingResources``, ``.CloudEvent``, ``.CloudEvents``, ``.Cluster``); a referenced
ConfigMap/Secret chooses the flavour with the annotation ``ripple.io/template-flavour``
(``go``, the default, or ``jinja``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from shared.api.vocabulary import FLAVOUR_ANNOTATION
from shared.templating.budget import count_refusal
from shared.templating.engine import Limits, compile_template, deep_copy
from shared.templating.errors import TemplateLimitError
from shared.templating.values import GoStruct, object_reference

__all__ = [
    "FLAVOUR_ANNOTATION",
    "Flavour",
    "event_data",
    "flavour_of",
    "render_event_template",
]

Flavour = Literal["go", "jinja"]

_ALL_KEYS = ("MatchingResources", "Resources", "CloudEvents")


def flavour_of(annotations: Mapping[str, str] | None) -> Flavour:
    """The flavour a ConfigMap/Secret asks for with :data:`FLAVOUR_ANNOTATION` (``go``
    unless annotated ``jinja``; case and surrounding blanks do not matter; any other value
    is a ValueError). The one reading of the annotation: the manager and ``ripple render``
    both call it."""
    value = (annotations or {}).get(FLAVOUR_ANNOTATION, "go").strip().lower()
    if value in ("", "go", "gotemplate", "go-template"):
        return "go"
    if value == "jinja" or value == "jinja2":
        return "jinja"
    raise ValueError(
        f"annotation {FLAVOUR_ANNOTATION}: unknown template flavour {value!r} (go or jinja)"
    )


def event_data(data: Mapping[str, Any], *, struct_refs: bool = True) -> dict[str, Any]:
    """Sveltos' template data: every field of currentObject(s) present, as Go sees them.

    One-for-event data (``MatchingResource``...) or all-resources data (any of
    ``MatchingResources``/``Resources``/``CloudEvents``); absent maps are empty (Go's nil
    map), MatchingResource(s) become ``corev1.ObjectReference`` structs (or dicts with the
    Go field names when ``struct_refs`` is false, for Jinja).
    """

    def ref(r: Any) -> Any:
        s = r if isinstance(r, GoStruct) else object_reference(r or {})
        return s if struct_refs else s.as_dict()

    extra = {k: v for k, v in data.items() if k not in _KNOWN}
    if any(k in data for k in _ALL_KEYS):
        return {
            **extra,
            "MatchingResources": [ref(r) for r in data.get("MatchingResources") or []],
            "Resources": list(data.get("Resources") or []),
            "CloudEvents": list(data.get("CloudEvents") or []),
            "Cluster": data.get("Cluster") or {},
        }
    return {
        **extra,
        "MatchingResource": ref(data.get("MatchingResource")),
        "Resource": data.get("Resource") or {},
        "CloudEvent": data.get("CloudEvent") or {},
        "Cluster": data.get("Cluster") or {},
    }


_KNOWN = frozenset(
    {
        "MatchingResource",
        "MatchingResources",
        "Resource",
        "Resources",
        "CloudEvent",
        "CloudEvents",
        "Cluster",
    }
)


def render_event_template(
    text: str,
    data: Mapping[str, Any],
    *,
    flavour: Flavour | str = "go",
    name: str = "tpl",
    funcs: str = "sveltos",
    txt: bool = False,
    limits: Limits | None = None,
) -> str:
    """Render an event template as the manager does (missingkey=error, Sveltos functions).

    ``name`` appears in error messages (Sveltos uses ``<clusterNamespace>-<clusterName>-
    <requestor>``). Mutating helpers (``set``, ``setField`` ...) work on a copy of ``data``.
    ``limits``: the render's bounds and budget (:class:`~shared.templating.runtime.Limits`);
    a render refused for one is counted (:func:`shared.templating.budget.refusals`).
    Raises :class:`~shared.templating.errors.TemplateError`.
    """
    try:
        if flavour == "jinja":
            from shared.templating.jinja import render_jinja

            prepared = event_data(data, struct_refs=False)
            return render_jinja(text, prepared, name=name, limits=limits)
        if flavour != "go":
            raise ValueError(f"unknown template flavour {flavour!r} (go or jinja)")
        tmpl = compile_template(text, name=name, funcs=funcs, missingkey="error", txt=txt)
        prepared = event_data(data)
        if tmpl.mutates:
            prepared = deep_copy(prepared)
        return tmpl.render(prepared, limits=limits)
    except TemplateLimitError as exc:
        count_refusal(exc.kind)
        raise
