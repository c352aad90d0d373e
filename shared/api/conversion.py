"""v1alpha1 <-> v1beta1 conversion of the Sveltos kinds (pure; the webhook's decisions).

What differs between the versions (sveltos-semantics §1.1, §4.1; BRIEF §4):

* EventSource: v1alpha1 also has the flat form (``group/version/kind/namespace/labelFilters/
  script`` directly under ``spec``, ``labelsFilters`` accepted) and ``script`` for a
  selector's Lua; v1beta1 has ``resourceSelectors[]`` with ``evaluate`` only.
* EventTrigger: v1alpha1 ``sourceClusterSelector``/``destinationClusterSelector`` are selector
  strings (``env=fv``); v1beta1 has LabelSelectors (as libsveltos' Selector conversion).
* ClusterProfile: ``spec.clusterSelector`` likewise.
* EventReport, SveltosCluster: the same schema; only ``apiVersion`` changes.

Conversion is lossless both ways: what v1beta1 cannot spell (the flat form, ``script``, the
misspelling, the selector string as written) is kept in the annotation
:data:`FORM_ANNOTATION` of the v1beta1 object and restored on the way back, as long as the
object still fits it (an edited selector is written from its new value).

:func:`convert` is total: a bad object raises :class:`~shared.api.errors.DefinitionError`
naming the object and the field, never anything else.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import ValidationError

from shared.api.errors import DefinitionError, InvalidSelector
from shared.api.selectors import LabelSelector, parse_selector, selector_to_string

JSON = dict[str, Any]

#: Ripple's own: what a v1alpha1 object looked like, kept on its v1beta1 form (JSON)
FORM_ANNOTATION = "ripple.io/v1alpha1-form"
V1ALPHA1 = "v1alpha1"
V1BETA1 = "v1beta1"

#: (group, kind) -> the versions served
VERSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("lib.projectsveltos.io", "EventSource"): (V1ALPHA1, V1BETA1),
    ("lib.projectsveltos.io", "EventTrigger"): (V1ALPHA1, V1BETA1),
    ("lib.projectsveltos.io", "EventReport"): (V1ALPHA1, V1BETA1),
    ("lib.projectsveltos.io", "SveltosCluster"): (V1ALPHA1, V1BETA1),
    ("lib.projectsveltos.io", "EventBasedAddOn"): (V1ALPHA1,),
    ("config.projectsveltos.io", "ClusterProfile"): (V1ALPHA1, V1BETA1),
}
#: spec fields that are selector strings in v1alpha1 and LabelSelectors in v1beta1
SELECTOR_FIELDS: dict[str, tuple[str, ...]] = {
    "EventTrigger": ("sourceClusterSelector", "destinationClusterSelector"),
    "ClusterProfile": ("clusterSelector",),
}
_FLAT_SELECTOR = ("group", "version", "kind", "namespace", "labelFilters", "labelsFilters")
_FLAT = (*_FLAT_SELECTOR, "script")
#: selector keys a flat v1alpha1 spec can hold (after conversion to v1beta1 spelling)
_FLAT_FITS = {"group", "version", "kind", "namespace", "labelFilters", "evaluate"}


class _Fail(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _ident(obj: Any) -> tuple[str, str]:
    if not isinstance(obj, dict):
        return "", ""
    meta = obj.get("metadata")
    name = meta.get("name", "") if isinstance(meta, dict) else ""
    return str(obj.get("kind", "")), str(name)


def convert(obj: Any, desired_api_version: str) -> JSON:
    """``obj`` (a dict as the API server sends it) converted to ``desired_api_version``.

    Metadata and status are kept as they are (but :data:`FORM_ANNOTATION`); raises
    :class:`DefinitionError` (object, field, reason) when the object cannot be converted.
    """
    kind, name = _ident(obj)
    try:
        return _convert(obj, desired_api_version)
    except _Fail as exc:
        raise DefinitionError(
            exc.reason, source="conversion", kind=kind, name=name, field=exc.field
        ) from None
    except Exception as exc:  # total: whatever the input, a clear error
        raise DefinitionError(
            f"cannot convert to {desired_api_version}: {type(exc).__name__}: {exc}",
            source="conversion",
            kind=kind,
            name=name,
        ) from None


def _convert(obj: Any, desired: str) -> JSON:
    if not isinstance(obj, dict):
        raise _Fail("", f"an object must be a JSON object, got {type(obj).__name__}")
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or "/" not in api_version:
        raise _Fail("apiVersion", f"must be group/version, got {api_version!r}")
    if not isinstance(kind, str) or not kind:
        raise _Fail("kind", "is missing")
    group, _, version = api_version.rpartition("/")
    to_group, _, to_version = desired.rpartition("/")
    versions = VERSIONS.get((group, kind))
    if versions is None:
        raise _Fail("kind", f"{kind} of {group} is not a kind Ripple converts")
    if to_group != group:
        raise _Fail("apiVersion", f"cannot convert {api_version} to another group ({desired})")
    for which, v in (("apiVersion", version), ("desiredAPIVersion", to_version)):
        if v not in versions:
            raise _Fail(which, f"{kind} is served as {' and '.join(versions)}, not {v}")
    out = copy.deepcopy(obj)
    out["apiVersion"] = desired
    if version == to_version:
        return out
    spec = out.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise _Fail("spec", f"must be an object, got {type(spec).__name__}")
    if to_version == V1BETA1:
        form = _up(kind, spec or {}) if spec is not None else {}
        _set_form(out, form)
    else:
        form = _pop_form(out)
        if spec is not None:
            _down(kind, spec, form)
    return out


# --- the annotation ---------------------------------------------------------------------------


def _set_form(obj: JSON, form: JSON) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        if not form:
            return
        meta = obj["metadata"] = {}
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    annotations.pop(FORM_ANNOTATION, None)
    if form:
        annotations[FORM_ANNOTATION] = json.dumps(form, sort_keys=True, separators=(",", ":"))
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)


def _pop_form(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("annotations"), dict):
        return {}
    text = meta["annotations"].pop(FORM_ANNOTATION, None)
    if not meta["annotations"]:
        del meta["annotations"]
    if not isinstance(text, str):
        return {}
    try:
        form = json.loads(text)
    except ValueError:
        return {}  # a hand-edited annotation: ignored, the v1beta1 content is what counts
    return form if isinstance(form, dict) else {}


# --- v1alpha1 -> v1beta1 ----------------------------------------------------------------------


def _up(kind: str, spec: JSON) -> JSON:
    if kind == "EventSource":
        return _event_source_up(spec)
    form: JSON = {}
    for key in SELECTOR_FIELDS.get(kind, ()):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _Fail(f"spec.{key}", f"must be a selector string in v1alpha1, got {value!r}")
        try:
            selector = parse_selector(value)
        except InvalidSelector as exc:
            raise _Fail(f"spec.{key}", exc.reason) from None
        spec[key] = selector.to_dict()
        if selector_to_string(selector) != value:
            form[key] = value  # written another way: kept for the way back
    return form


def _event_source_up(spec: JSON) -> JSON:
    form: JSON = {}
    flat = [k for k in _FLAT if k in spec]
    if flat:
        if "resourceSelectors" in spec:
            raise _Fail(
                "spec",
                f"the flat v1alpha1 form ({', '.join(flat)}) cannot be combined with "
                "resourceSelectors; use one or the other",
            )
        selector = {k: spec.pop(k) for k in flat}
        spec["resourceSelectors"] = [selector]
        form["flat"] = True
    selectors = spec.get("resourceSelectors")
    if selectors is None:
        return form
    if not isinstance(selectors, list):
        raise _Fail("spec.resourceSelectors", "must be a list")
    script: list[int] = []
    misspelt: list[int] = []
    for i, sel in enumerate(selectors):
        where = "spec" if flat else f"spec.resourceSelectors[{i}]"
        if not isinstance(sel, dict):
            raise _Fail(where, "must be an object")
        if "labelsFilters" in sel:
            if "labelFilters" in sel:
                raise _Fail(where, "both 'labelFilters' and 'labelsFilters' are set; use one")
            sel["labelFilters"] = sel.pop("labelsFilters")
            misspelt.append(i)
        if "script" in sel:
            if "evaluate" in sel:
                raise _Fail(where, "both 'script' and 'evaluate' are set; use 'evaluate'")
            sel["evaluate"] = sel.pop("script")
            script.append(i)
    if script and not flat:
        form["script"] = script
    if misspelt:
        form["labelsFilters"] = misspelt
    return form


# --- v1beta1 -> v1alpha1 ----------------------------------------------------------------------


def _down(kind: str, spec: JSON, form: JSON) -> None:
    if kind == "EventSource":
        _event_source_down(spec, form)
        return
    for key in SELECTOR_FIELDS.get(kind, ()):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _Fail(f"spec.{key}", f"must be a LabelSelector object in v1beta1, got {value!r}")
        try:
            selector = LabelSelector.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise _Fail(f"spec.{key}", str(first.get("msg", exc))) from None
        written = form.get(key)
        if isinstance(written, str) and _same(written, selector):
            spec[key] = written
        else:
            spec[key] = selector_to_string(selector)


def _same(text: str, selector: LabelSelector) -> bool:
    try:
        return parse_selector(text) == selector
    except InvalidSelector:
        return False


def _indices(form: JSON, key: str) -> set[int]:
    value = form.get(key)
    return {i for i in value if isinstance(i, int)} if isinstance(value, list) else set()


def _event_source_down(spec: JSON, form: JSON) -> None:
    selectors = spec.get("resourceSelectors")
    if selectors is None:
        return
    if not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
        raise _Fail("spec.resourceSelectors", "must be a list of objects")
    misspelt = _indices(form, "labelsFilters")
    for i in misspelt:
        if i < len(selectors) and "labelFilters" in selectors[i]:
            selectors[i]["labelsFilters"] = selectors[i].pop("labelFilters")
    fits = (
        form.get("flat") is True
        and len(selectors) == 1
        and set(selectors[0]) <= _FLAT_FITS | {"labelsFilters"}
    )
    if fits:
        selector = spec.pop("resourceSelectors")[0]
        if "evaluate" in selector:
            selector["script"] = selector.pop("evaluate")
        flat = {k: selector[k] for k in (*_FLAT, "evaluate") if k in selector}
        rest = dict(spec)
        spec.clear()
        spec.update(flat)
        spec.update(rest)
        return
    for i in _indices(form, "script"):
        if i < len(selectors) and "evaluate" in selectors[i]:
            selectors[i]["script"] = selectors[i].pop("evaluate")


def try_convert(obj: Any, desired_api_version: str) -> tuple[JSON | None, str]:
    """:func:`convert` without raising: ``(converted, "")`` or ``(None, message)``."""
    try:
        return convert(obj, desired_api_version), ""
    except DefinitionError as exc:
        return None, str(exc)
