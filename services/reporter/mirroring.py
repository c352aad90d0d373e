"""What the reporter writes into the management cluster, computed from NATS state (pure).

EventReports are built through :class:`shared.api.eventreport.EventReport`, so that what the
reporter writes is what the API model parses (``spec.resources``: each collected object as
JSON, newline, ``---``; sveltos-semantics §1.8), from a :class:`~services.reporter.matchsets.
ReportInput` and within a size budget (:func:`event_report`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

from services.reporter.matchsets import Entry, ReportInput, ref_dict, ref_size
from shared.api.eventreport import EventReport
from shared.api.vocabulary import CONFIG_MAP, ObjectKey
from shared.contract import messages as m
from shared.contract import streams


def definition_status(status: m.DefinitionStatus) -> dict[str, Any]:
    """The ``status`` written on an EventSource / EventTrigger / EventBasedAddOn."""
    out: dict[str, Any] = {
        "matchingClusters": [c.key.object_key().reference() for c in status.matching_clusters],
        "failureMessage": status.failure_message or None,
    }
    return out


def profile_objects(state: m.ProfileState) -> list[dict[str, Any]]:
    """The ClusterProfile and the generated ConfigMaps of one profile. Generated Secrets
    are not written here: the profiles bucket has them redacted (Secrets' data never travels
    where the reporter and external consumers read); the manager hands them to the
    management cluster's own agent (``--management-cluster``) in that cluster's desired
    state instead (docs/rendering.md)."""
    profile = json.loads(json.dumps(state.cluster_profile))
    objs = [profile]
    for obj in state.instantiated:
        if obj.get("kind") == CONFIG_MAP.kind:
            objs.append(json.loads(json.dumps(obj)))
    return objs


# -- EventReports from ripple-matches ---------------------------------------------------------

#: default size budget of one EventReport (the API server refuses objects over ~1.5 MiB)
REPORT_BUDGET = 1024 * 1024
#: bytes of a report's body beyond what is counted (field names, separators)
SLACK = 256
#: unreadable entries named in a report's status
UNREADABLE_SHOWN = 5

Fit = Literal["full", "references", "truncated"]


@dataclass(frozen=True)
class RenderedReport:
    """An EventReport and its status; ``fit`` says what had to be left out to stay within
    the budget: nothing (``full``), the collected objects (``references``), or some of the
    references too (``truncated``: ``listed`` of ``matching``)."""

    obj: dict[str, Any]
    status: dict[str, Any]
    fit: Fit
    listed: int
    matching: int


def _base(data: ReportInput) -> dict[str, Any]:
    """The report without references nor collected objects (named and labelled)."""
    report = EventReport.for_cluster(
        cluster_namespace=data.cluster.namespace,
        cluster_name=data.cluster.name,
        cluster_type=data.cluster.type,
        event_source_name=data.event_source,
    )
    report.spec.set_cloud_events(data.head.cloud_events)
    obj = report.to_dict()
    # Sveltos writes ``matchingResources: []`` when nothing matches (to_dict drops defaults)
    obj["spec"]["matchingResources"] = []
    return obj


def body_size(obj: dict[str, Any]) -> int:
    """Bytes of ``obj`` in compact JSON (what the budget is compared with)."""
    return len(json.dumps(obj, separators=(",", ":")))


def _with(base: dict[str, Any], refs: list[ObjectKey], resources: bytes) -> dict[str, Any]:
    spec = {**base["spec"], "matchingResources": [ref_dict(k) for k in refs]}
    if resources:
        spec["resources"] = base64.b64encode(resources).decode("ascii")
    return {**base, "spec": spec}


def event_report(data: ReportInput, budget: int = REPORT_BUDGET) -> RenderedReport:
    """The management-side EventReport of one complete set, within ``budget`` bytes: when
    the collected objects do not fit they are left out (``matchingResources`` kept); when
    the references do not fit either, as many as fit are kept (sorted). The status says so
    (the objects stay available in ``ripple-matches``)."""
    entries = dict(data.entries)
    keys = sorted([*entries, *data.unreadable])
    ref_bytes = data.ref_bytes + sum(ref_size(k) for k in data.unreadable)
    collected = [entries[k].resource for k in keys if k in entries]
    resources = [r for r in collected if r is not None]
    base = _base(data)
    base_size = body_size(base)
    b64 = 4 * ((data.resource_bytes + 2) // 3)
    where = f"NATS KV {streams.MATCHES.bucket} (keys {data.kv_prefix})"
    fit: Fit = "full"
    note = ""
    obj: dict[str, Any] | None = None
    if base_size + ref_bytes + b64 + SLACK <= budget:
        obj = _with(base, keys, b"".join(resources))
        if body_size(obj) > budget:
            obj = None
    if obj is None and resources and base_size + ref_bytes + SLACK <= budget:
        fit = "references"
        obj = _with(base, keys, b"")
        if body_size(obj) > budget:
            obj = None
        note = (
            f"spec.resources not written: the {len(resources)} collected objects "
            f"({data.resource_bytes} bytes) do not fit the EventReport size budget of "
            f"{budget} bytes; matchingResources lists all {len(keys)}; the collected objects "
            f"are in {where}"
        )
    listed = len(keys)
    if obj is None:
        fit = "truncated"
        kept = _prefix(keys, entries, budget - base_size - SLACK)
        obj = _with(base, kept, b"")
        while kept and body_size(obj) > budget:  # the estimate was short: drop some more
            kept = kept[: len(kept) * 9 // 10]
            obj = _with(base, kept, b"")
        listed = len(kept)
        dropped = f"; spec.resources not written ({len(resources)} collected)" if resources else ""
        note = (
            f"matchingResources truncated: {listed} of {len(keys)} objects (sorted) fit the "
            f"EventReport size budget of {budget} bytes{dropped}; all {len(keys)} are in {where}"
        )
    status = report_status(data, note)
    return RenderedReport(obj, status, fit, listed, len(keys))


def _prefix(keys: list[ObjectKey], entries: dict[ObjectKey, Entry], room: int) -> list[ObjectKey]:
    used = 0
    for index, key in enumerate(keys):
        entry = entries.get(key)
        used += entry.ref_bytes if entry is not None else ref_size(key)
        if used > room:
            return keys[:index]
    return keys


def report_status(data: ReportInput, note: str = "") -> dict[str, Any]:
    """``phase: Processed``, and in ``failureMessage`` the per-object errors of the head,
    unreadable entries and what the size budget left out (None: nothing to say)."""
    head = data.head
    parts = [f"{e.object.kind}/{e.object.name}: {e.message}" for e in head.errors]
    more = head.error_count - len(head.errors)
    if more > 0:
        parts.append(f"(+{more} more errors)")
    if data.unreadable:
        shown = ", ".join(str(k) for k in sorted(data.unreadable)[:UNREADABLE_SHOWN])
        parts.append(
            f"{len(data.unreadable)} matching entries cannot be read (listed as matching, "
            f"content unknown): {shown}"
        )
    if note:
        parts.append(note)
    # a merge patch: None removes a message an earlier write left
    return {"phase": "Processed", "failureMessage": "; ".join(parts) or None}
