"""Turning management-cluster objects into the planner's inputs.

Each conversion validates the object with the API models and compiles it as the services
would (:mod:`shared.checks`: Lua, regular expressions, the trigger's templates); a definition
that does not load or compile is reported (its status says what is wrong, naming the field and
the line in the script or template) and ignored, the last valid version staying in force, and
never stops the others. What it can run with (a CEL rule that does not compile counts as false,
as in Sveltos; a field Ripple accepts and does not act on) is :func:`definition_problems`,
shown in its status. A
definition whose spec is over :data:`MAX_DEFINITION_BYTES` (a 4 MiB Lua script) is refused
with its size, the limit and its largest field, before anything else is done with it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from services.manager.errors import DefinitionProblem
from services.manager.model import ClusterInfo, ClusterKey
from services.manager.planning import PolicyRefView, TriggerView
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger
from shared.api.loading import parse_object
from shared.api.vocabulary import CAPI_CLUSTER as CAPI_CLUSTER
from shared.api.vocabulary import EVENT_BASED_ADDON, EVENT_SOURCE, LIB_V1ALPHA1
from shared.api.vocabulary import SVELTOS_CLUSTER as SVELTOS_CLUSTER
from shared.checks import Problem, check_definition
from shared.checks import errors as check_errors
from shared.checks import warnings as check_warnings
from shared.evaluation import compile_event_source

log = logging.getLogger(__name__)

#: the largest spec of an EventSource or trigger (JSON), what the API server itself stores
MAX_DEFINITION_BYTES = 1 << 20


def check_size(obj: dict[str, Any]) -> None:
    """Refuse a definition whose spec is over :data:`MAX_DEFINITION_BYTES` (it would be
    assigned to clusters in a message over NATS' limit, and compiled on every change)."""
    spec = obj.get("spec") or {}
    size = len(json.dumps(spec, separators=(",", ":"), default=str).encode("utf-8"))
    if size <= MAX_DEFINITION_BYTES:
        return
    path, biggest = _largest_string(spec, "spec")
    raise DefinitionProblem(
        f"{_ident(obj)}: spec is {size} bytes, over the limit of {MAX_DEFINITION_BYTES} bytes "
        f"for a definition (largest field: {path}, {biggest} bytes); it is not used"
    )


def _largest_string(value: Any, path: str) -> tuple[str, int]:
    best = (path, len(value.encode("utf-8")) if isinstance(value, str) else 0)
    items: Any = ()
    if isinstance(value, dict):
        items = ((f"{path}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    for sub, v in items:
        found = _largest_string(v, sub)
        if found[1] > best[1]:
            best = found
    return best


def trigger_view(obj: dict[str, Any]) -> TriggerView:
    """An EventTrigger / EventBasedAddOn object as the planner sees it (raises on bad input)."""
    check_size(obj)
    model = parse_object(obj, source=_ident(obj))
    if not isinstance(model, EventTrigger | EventBasedAddOn):
        raise TypeError(f"{_ident(obj)} is not an EventTrigger or EventBasedAddOn")
    problems = check_definition(obj)
    _refuse(obj, check_errors(problems))
    spec = model.spec
    dest = spec.destination_cluster
    return TriggerView(
        kind=model.kind,
        name=model.metadata.name,
        source_selector=spec.source_cluster_selector,
        event_source_name=spec.event_source_name,
        one_for_event=spec.one_for_event,
        policy_refs=tuple(
            PolicyRefView(r.kind, r.namespace, r.name, bool(getattr(r, "optional", False)))
            for r in spec.policy_refs
        ),
        helm_charts=tuple(_entry(c.model_dump(by_alias=True)) for c in spec.helm_charts),
        destination_selector=spec.destination_cluster_selector,
        destination_cluster=(
            {"namespace": dest.namespace, "name": dest.name, "kind": dest.kind}
            if dest is not None and dest.name
            else None
        ),
        profile_name_format=spec.profile_name_format,
        stop_matching_behavior=spec.stop_matching_behavior,
        sync_mode=spec.sync_mode,
        instantiate_all=isinstance(model, EventBasedAddOn),
        cloud_event_action=spec.cloud_event_action,
        labels=dict(model.metadata.labels),
        annotations=dict(model.metadata.annotations),
        copied_spec=spec.profile_fields(),
        not_deployed=tuple(p.text() for p in check_warnings(problems)),
        spec=spec.model_dump(by_alias=True, mode="json"),
    )


def event_source_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A validated EventSource as plain data (as it is assigned to clusters).

    The simulated fleet (like a cluster without conversion webhooks) serves a v1alpha1 flat
    EventSource unchanged under v1beta1; it is recognised by its flat spec.
    """
    check_size(obj)
    spec = obj.get("spec") or {}
    if "kind" in spec and "resourceSelectors" not in spec:
        obj = {**obj, "apiVersion": LIB_V1ALPHA1}
    model = parse_object(obj, source=_ident(obj))
    if not isinstance(model, EventSource):
        raise TypeError(f"{_ident(obj)} is not an EventSource")
    _refuse(obj, check_errors(check_definition(obj)))  # Lua, regexes: field and line
    compile_event_source(model)  # the engine itself: fail here, early
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": EVENT_SOURCE.kind,
        "metadata": {
            "name": (obj.get("metadata") or {}).get("name", ""),
            "labels": (obj.get("metadata") or {}).get("labels") or {},
        },
        "spec": spec,
    }


def definition_problems(obj: dict[str, Any]) -> list[str]:
    """What a definition's status shows besides its errors: one line per warning or field
    Ripple accepts and does not act on, each naming its field path (an EventSource's CEL
    rule that does not compile; a trigger's unsupported fields...). Never raises; the
    problems that refuse a definition are raised by :func:`trigger_view` and
    :func:`event_source_object` instead."""
    try:
        return [p.text() for p in check_warnings(check_definition(obj))]
    except Exception as exc:  # a check must never stop the status of the others
        log.exception("static checks failed", extra={"obj": _ident(obj)})
        return [f"internal error while checking the definition: {exc!r}"]


def _refuse(obj: dict[str, Any], errors: list[Problem]) -> None:
    """Raise the problems that make a definition unusable (one line each)."""
    if errors:
        raise DefinitionProblem(
            f"{_ident(obj)}: " + "; ".join(p.text() for p in errors) + "; it is not used"
        )


def trigger_object(obj: dict[str, Any]) -> dict[str, Any]:
    """EventBasedAddOn objects keep their kind; the apiVersion follows the kind."""
    if obj.get("kind") == EVENT_BASED_ADDON.kind:
        return {**obj, "apiVersion": EVENT_BASED_ADDON.api_version}
    return obj


def cluster_info(obj: dict[str, Any]) -> ClusterInfo:
    meta = obj.get("metadata") or {}
    key = ClusterKey.of(obj)
    clean = {k: v for k, v in obj.items() if k != "status"} | {"status": obj.get("status") or {}}
    meta_clean = {k: v for k, v in meta.items() if k not in ("managedFields",)}
    clean["metadata"] = meta_clean
    return ClusterInfo(key=key, labels=dict(meta.get("labels") or {}), obj=clean)


def _entry(chart: dict[str, Any]) -> dict[str, Any]:
    """A helmCharts entry as Sveltos shows it: the fields set (no nulls, no empty values)."""
    return {k: v for k, v in chart.items() if v is not None and v != "" and v != []}


def _ident(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('name')}"
