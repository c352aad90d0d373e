"""Instantiating referenced ConfigMaps/Secrets into manifests (pure).

Each ``data`` key of a referenced ConfigMap/Secret is one template (Sveltos renders keys
separately since v1.0.1); its output is YAML, possibly several documents. Non-instantiated
references are deployed as they are.

Bounds: every render has a time and memory budget (:data:`RENDER_LIMITS` unless the caller
sets others with :func:`limits_scope`; the manager's ``--render-seconds`` and
``--render-memory``); a referenced object's data may total :data:`MAX_REFERENCE_BYTES`
(Kubernetes' own limit for a ConfigMap); rendered manifests are read with the YAML bounds of
:func:`shared.api.yamlio.load_bounded`. Each refusal is an :class:`InstantiationError` naming
the template, the instance's resource and the bound, and is counted (:data:`refusals`).
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import yaml

from services.manager.errors import InstantiationError
from shared.api.vocabulary import (
    CLUSTER_PROFILE_SECRET_TYPE,
    CONFIG_MAP,
    SECRET,
    SVELTOS_NAMESPACE,
)
from shared.api.yamlio import YamlTooLarge, load_bounded
from shared.hashing import go_json
from shared.metrics import FAST_BUCKETS, Histogram
from shared.templating import (
    Limits,
    TemplateLimitError,
    budget_refusals,
    flavour_of,
    render_event_template,
)
from shared.templating.events import Flavour

log = logging.getLogger(__name__)

# libyaml's safe loader when PyYAML was built with it (5-10x faster than pure Python)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: the budget of one render in the manager (wall clock, values built)
RENDER_LIMITS = Limits(max_seconds=0.5, max_memory=64 << 20)
#: the largest referenced ConfigMap/Secret, all data keys together (Kubernetes' limit)
MAX_REFERENCE_BYTES = 1 << 20

#: inputs refused for a bound so far: ``yaml`` (rendered manifests), ``reference`` (a
#: referenced object's size); template budgets are counted by shared.templating.budget
refusals: dict[str, int] = {"yaml": 0, "reference": 0}

#: the template bounds whose refusals are counted, one metric each
REFUSAL_KINDS = ("time", "memory", "size", "output", "iterations", "depth", "arithmetic")

#: seconds a render refused for a bound is remembered: the same template over the same data
#: is refused again at once, without rendering (a re-plan after a change of clusters or
#: referenced objects must not pay a hostile render's budget again for each instance)
REFUSAL_MEMORY = 60.0
#: (name, template text) -> {data digest: (message, until)}; few entries (refusals only)
_refused: dict[tuple[str, str], dict[str, tuple[str, float]]] = {}
_REFUSED_MAX = 4096
#: planning and explain render in threads of their own: one lock around the memory
_refused_lock = threading.Lock()

#: the time of each render (served by the manager: ``ripple_manager_render_seconds``)
RENDER_SECONDS = Histogram(
    "render_seconds",
    "One template rendered (a data key of a referenced ConfigMap/Secret for one instance; "
    "refused and failed renders included)",
    FAST_BUCKETS,
)

_limits: contextvars.ContextVar[Limits] = contextvars.ContextVar(
    "ripple_render_limits", default=RENDER_LIMITS
)


@contextmanager
def limits_scope(limits: Limits) -> Iterator[None]:
    """Render with ``limits`` within the block (and in threads started from it with a copy
    of the context, as ``asyncio.to_thread`` does)."""
    token = _limits.set(limits)
    try:
        yield
    finally:
        _limits.reset(token)


def instance_subject(data: Mapping[str, Any]) -> str:
    """What an instance was rendered for, for messages: `` for <Kind> <ns>/<name>`` (the
    matching resource), `` for CloudEvent <source> <subject>``, or the set's size."""
    ref = data.get("MatchingResource")
    if isinstance(ref, Mapping):
        kind, name = ref.get("kind") or "object", ref.get("name") or ""
        namespace = ref.get("namespace") or ""
        return f" for {kind} {namespace + '/' if namespace else ''}{name}"
    ce = data.get("CloudEvent")
    if isinstance(ce, Mapping) and ce:
        return f" for CloudEvent {ce.get('source', '')} {ce.get('subject', '')}".rstrip()
    matching = data.get("MatchingResources")
    if isinstance(matching, list):
        return f" for {len(matching)} matching resource(s)"
    return ""


SECRET_TYPE = CLUSTER_PROFILE_SECRET_TYPE
GENERATED_NAMESPACE = SVELTOS_NAMESPACE  # where instantiated copies are generated


def template_flavour(ref_obj: Mapping[str, Any]) -> Flavour:
    """The flavour the referenced object asks for (shared.templating's reading of the
    annotation, as ``ripple render``); an unknown flavour is an instantiation error."""
    try:
        return flavour_of((ref_obj.get("metadata") or {}).get("annotations"))
    except ValueError as exc:
        raise InstantiationError(f"{_ident(ref_obj)}: {exc}") from exc


def data_entries(ref_obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, text)`` of a ConfigMap's data or a Secret's decoded data, in key order; an
    object whose data totals more than :data:`MAX_REFERENCE_BYTES` is refused."""
    kind = ref_obj.get("kind")
    ident = _ident(ref_obj)
    check_reference_size(ref_obj)
    if kind == SECRET.kind:
        stype = ref_obj.get("type", "")
        if stype and stype != SECRET_TYPE:
            raise InstantiationError(
                f"{ident}: Secret type {stype!r} is not supported; use type {SECRET_TYPE!r}"
            )
        out = []
        for key, value in sorted((ref_obj.get("data") or {}).items()):
            try:
                out.append((key, base64.b64decode(str(value), validate=True).decode()))
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise InstantiationError(f"{ident}: data[{key}] is not base64 text: {exc}") from exc
        for key, value in sorted((ref_obj.get("stringData") or {}).items()):
            out.append((key, str(value)))
        return out
    return [(k, str(v)) for k, v in sorted((ref_obj.get("data") or {}).items())]


def check_reference_size(ref_obj: Mapping[str, Any]) -> None:
    """Refuse a referenced ConfigMap/Secret whose data is over :data:`MAX_REFERENCE_BYTES`
    (the API server refuses such a ConfigMap; the simulated fleet does not)."""
    size = 0
    for section in ("data", "stringData", "binaryData"):
        for key, value in (ref_obj.get(section) or {}).items():
            size += len(str(key)) + len(value if isinstance(value, str | bytes) else str(value))
    if size > MAX_REFERENCE_BYTES:
        refusals["reference"] += 1
        message = (
            f"{_ident(ref_obj)}: its data is {size} bytes, over the limit of "
            f"{MAX_REFERENCE_BYTES} bytes for a referenced {ref_obj.get('kind')}; "
            "it is not rendered nor deployed"
        )
        log.warning("refused: %s", message, extra={"obj": _ident(ref_obj)})
        raise InstantiationError(message)


def render_text(
    text: str, data: Mapping[str, Any], *, flavour: str, name: str, funcs: str = "sveltos"
) -> str:
    """One template rendered within the budget in force (:func:`limits_scope`); any engine
    error is an :class:`InstantiationError` naming ``name`` and the instance's resource.
    ``funcs``: event-manager's functions (``sveltos``) or addon-controller's
    (``sveltos-addon``: the resource helpers take an identifier of ``.MgmtResources``)."""
    with _refused_lock:
        known = _refused.get((name, text))
        known = dict(known) if known is not None else None
    digest = ""
    if known is not None:  # refused lately: the same data is refused again at once
        digest = _digest(data)
        message, until = known.get(digest, ("", 0.0))
        if time.monotonic() < until:
            raise InstantiationError(message)
    started = time.perf_counter()
    try:
        out = str(
            render_event_template(
                text, dict(data), flavour=flavour, name=name, funcs=funcs, limits=_limits.get()
            )
        )
    except Exception as exc:  # every engine error becomes an instantiation error
        RENDER_SECONDS.observe(time.perf_counter() - started)
        refused = isinstance(exc, TemplateLimitError)
        message = f"{name}{instance_subject(data)}: render {'refused' if refused else 'failed'}"
        if refused:  # a bound, hostile or runaway: worth a line in the log
            log.warning("%s: %s", message, exc, extra={"obj": name})
            _remember(name, text, digest or _digest(data), f"{message}: {exc}")
        raise InstantiationError(f"{message}: {exc}") from exc
    RENDER_SECONDS.observe(time.perf_counter() - started)
    return out


def _digest(data: Mapping[str, Any]) -> str:
    """What identifies the data of a render ("" when it has no JSON form: not remembered)."""
    try:
        return hashlib.sha256(go_json(dict(data)).encode()).hexdigest()
    except (TypeError, ValueError, RecursionError):
        return ""


def _remember(name: str, text: str, digest: str, message: str) -> None:
    if not digest:
        return
    with _refused_lock:
        if len(_refused) >= _REFUSED_MAX:
            _refused.pop(next(iter(_refused)))  # the oldest template
        entry = _refused.setdefault((name, text), {})
        entry[digest] = (message, time.monotonic() + REFUSAL_MEMORY)


def parse_manifests(text: str, where: str) -> list[dict[str, Any]]:
    """The objects of a (rendered) YAML text, read within the YAML bounds; empty documents
    are skipped."""
    try:
        docs = load_bounded(text, _LOADER)
    except YamlTooLarge as exc:
        refusals["yaml"] += 1
        log.warning("%s: output refused: %s", where, exc, extra={"obj": where})
        raise InstantiationError(f"{where}: output refused: {exc}") from exc
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer of > 4300 digits
        raise InstantiationError(f"{where}: output is not valid YAML: {exc}") from exc
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "List"
            and isinstance(doc.get("items"), list)
        ):
            objects.extend(i for i in doc["items"] if isinstance(i, dict))
            continue
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise InstantiationError(
                f"{where}: document {index} is not a Kubernetes object (needs apiVersion and kind)"
            )
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise InstantiationError(f"{where}: document {index} has no metadata.name")
        objects.append(doc)
    return objects


def instantiate(
    ref_obj: Mapping[str, Any],
    data: Mapping[str, Any],
    *,
    render: bool,
    owner: str = "",
    then: Callable[[str, str], str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Manifests of one referenced object and its (rendered) data section. ``owner`` (the
    trigger, ``Kind/name``) and the instance's resource are named in errors. ``then(text,
    where)``, when given, renders each key once more before its manifests are read (the
    second pass of content annotated ``projectsveltos.io/template``); the data section
    returned is the first pass's (what an instantiated copy holds)."""
    ident = _ident(ref_obj)
    prefix = f"{owner} policyRef " if owner else ""
    flavour = template_flavour(ref_obj)
    manifests: list[dict[str, Any]] = []
    rendered: dict[str, str] = {}
    try:
        entries = data_entries(ref_obj)
    except InstantiationError as exc:
        if not prefix:
            raise
        raise InstantiationError(f"{prefix}{exc}") from exc
    for key, text in entries:
        where = f"{prefix}{ident} data[{key}]"
        out = render_text(text, data, flavour=flavour, name=where) if render else text
        rendered[key] = out
        if then is not None:
            out = then(out, where)
        manifests.extend(parse_manifests(out, f"{where}{instance_subject(data)}"))
    return manifests, rendered


def generated_copy(
    ref_obj: Mapping[str, Any], name: str, labels: dict[str, str], data: dict[str, str]
) -> dict[str, Any]:
    meta = ref_obj.get("metadata") or {}
    copy: dict[str, Any] = {
        "apiVersion": CONFIG_MAP.api_version,
        "kind": ref_obj.get("kind", CONFIG_MAP.kind),
        "metadata": {
            "name": name,
            "namespace": GENERATED_NAMESPACE,
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
        },
    }
    if copy["kind"] == SECRET.kind:
        copy["type"] = SECRET_TYPE
        copy["stringData"] = data
    else:
        copy["data"] = data
    return copy


def _ident(ref_obj: Mapping[str, Any]) -> str:
    meta = ref_obj.get("metadata") or {}
    return f"{ref_obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def refusal_metrics() -> dict[str, tuple[str, str, float]]:
    """Renders and inputs refused for a bound, one counter per bound."""
    templates = budget_refusals()
    out: dict[str, tuple[str, str, float]] = {
        f"template_refusals_{kind}_total": (
            "counter",
            f"Renders refused for their {kind} bound (the trigger's status has the error)",
            templates.get(kind, 0),
        )
        for kind in REFUSAL_KINDS
    }
    out["template_refusals_total"] = (
        "counter",
        "Renders refused for any bound (time, memory, size, output, iterations, depth, ...)",
        sum(templates.values()),
    )
    out["yaml_refusals_total"] = (
        "counter",
        "Rendered manifests refused by the YAML bounds (aliases, size, depth)",
        refusals["yaml"],
    )
    out["oversized_references_total"] = (
        "counter",
        "Instantiations refused: a referenced ConfigMap/Secret over the size limit",
        refusals["reference"],
    )
    return out
