"""Which (trigger, source cluster) pairs exist, which EventSources each cluster is assigned,
and what a trigger's selection says in its status (pure: no I/O).

An EventSource a trigger names is in one of four states, each said once per trigger and
EventSource, naming the source clusters concerned:

- valid: assigned to the clusters, its pairs planned from their reports;
- invalid (its latest version does not load): the clusters keep its last valid version, if
  there is one, and the status names the EventSource's error;
- deleted (seen, then deleted: positive knowledge): not assigned, and what its pairs
  deployed is withdrawn, as Sveltos removes what a deleted EventReport produced;
- never seen: unknown, never "no match" -- nothing of its pairs is withdrawn (after a restart
  what was published for them is held) until it exists or the trigger changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.manager import planning
from services.manager.model import ClusterInfo, ClusterKey
from services.manager.planning import TriggerView

log = logging.getLogger(__name__)

Pair = tuple[str, ClusterKey]  # (trigger name, source cluster)
Assignments = dict[tuple[ClusterKey, str], dict[str, Any]]

MAX_INSTANCE_LINES = 20
"""Failing instances a trigger's status lists (all are counted, and listed on /v1/errors)."""
MAX_CLUSTERS_NAMED = 5
"""Source clusters named in one status line (the others are counted)."""


@dataclass
class TriggerStatus:
    """What a trigger's status says: the clusters it selects, its problems (in order), and
    every failing instance (``cluster: error``, for ``/v1/errors`` and the metrics)."""

    matching_clusters: list[ClusterKey] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    instantiation: list[str] = field(default_factory=list)


@dataclass
class Selection:
    pairs: dict[Pair, str]  # pair -> the EventSource it reads
    assignments: Assignments
    status: dict[str, TriggerStatus]


def clusters_text(keys: Iterable[ClusterKey]) -> str:
    """``source cluster ns/a`` or ``source clusters ns/a, ns/b`` (at most
    :data:`MAX_CLUSTERS_NAMED` named, then ``and N more``)."""
    names = sorted(str(k) for k in keys)
    shown = ", ".join(names[:MAX_CLUSTERS_NAMED])
    if len(names) > MAX_CLUSTERS_NAMED:
        shown += f" and {len(names) - MAX_CLUSTERS_NAMED} more"
    return f"source cluster{'s' if len(names) > 1 else ''} {shown}"


def source_problem(
    name: str, clusters: Iterable[ClusterKey], *, error: str | None, valid: bool, deleted: bool
) -> str:
    """The one line a trigger's status says about EventSource ``name`` (invalid, deleted or
    never seen) for the source clusters concerned."""
    where = clusters_text(clusters)
    if error is not None:
        prefix = f"EventSource/{name}: "
        while error.startswith(prefix):  # the line names it already
            error = error[len(prefix) :]
        then = (
            "the clusters keep its last valid version"
            if valid
            else "it is not assigned to them until it is fixed"
        )
        return f"EventSource {name!r} is invalid ({where}): {error}; {then}"
    if deleted:
        return (
            f"EventSource {name!r} does not exist ({where}): it was deleted, so what this "
            "trigger deployed from it is withdrawn"
        )
    return (
        f"EventSource {name!r} does not exist ({where}): nothing is deployed from it until it "
        "is created (what was deployed before is kept)"
    )


def select(
    triggers: Mapping[str, TriggerView],
    clusters: Mapping[ClusterKey, ClusterInfo],
    event_sources: Mapping[str, dict[str, Any]],
    source_errors: Mapping[str, str],
    deleted_sources: set[str] | frozenset[str],
) -> Selection:
    """The pairs, the assignments and each trigger's selection status."""
    wanted: dict[Pair, str] = {}
    assignments: Assignments = {}
    statuses: dict[str, TriggerStatus] = {}
    for trigger in triggers.values():
        status = TriggerStatus(errors=list(trigger.not_deployed))
        statuses[trigger.name] = status
        concerned: dict[str, list[ClusterKey]] = {}  # EventSource with a problem -> clusters
        for key in planning.source_clusters(trigger, clusters):
            status.matching_clusters.append(key)
            try:
                es_name = planning.event_source_for_cluster(trigger, clusters[key])
            except Exception as exc:
                status.errors.append(f"{key}: {exc}")
                continue
            wanted[(trigger.name, key)] = es_name
            es_obj = event_sources.get(es_name)
            if es_obj is None or es_name in source_errors:
                concerned.setdefault(es_name, []).append(key)
            if es_obj is None:
                continue
            entry = assignments.setdefault((key, es_name), {"eventSource": es_obj, "triggers": []})
            entry["triggers"].append(trigger.name)
        for es_name, keys in concerned.items():
            status.errors.append(
                source_problem(
                    es_name,
                    keys,
                    error=source_errors.get(es_name),
                    valid=es_name in event_sources,
                    deleted=es_name in deleted_sources,
                )
            )
    return Selection(wanted, assignments, statuses)


def statuses(
    selected: Mapping[str, TriggerStatus],
    triggers: Mapping[str, TriggerView],
    failing: Mapping[Pair, list[str]],
) -> dict[str, TriggerStatus]:
    """Each trigger's status: its selection's (``selected``) and its failing instances per
    pair (``failing``): ``instantiation`` lists every one (``cluster: error``), ``errors``
    the first :data:`MAX_INSTANCE_LINES`, then how many more."""
    out = {
        name: TriggerStatus(list(s.matching_clusters), list(s.errors))
        for name, s in selected.items()
        if name in triggers
    }
    for pair, errors in sorted(failing.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        entry = out.setdefault(pair[0], TriggerStatus())
        entry.instantiation.extend(f"{pair[1]}: {e}" for e in errors)
    for entry in out.values():
        lines = entry.instantiation
        entry.errors.extend(lines[:MAX_INSTANCE_LINES])
        if len(lines) > MAX_INSTANCE_LINES:
            entry.errors.append(
                f"... and {len(lines) - MAX_INSTANCE_LINES} more failing instances "
                "(GET /v1/errors lists them)"
            )
    return out


LOGGED_ERRORS = 3
"""New instantiation errors of one pair logged per plan (the others are counted)."""


def log_new_errors(pair: Pair, before: list[str], after: list[str]) -> None:
    """One WARNING per instantiation error that was not there before (at most
    :data:`LOGGED_ERRORS` per plan, then how many more): the status and /v1/errors keep
    them all."""
    seen = set(before)
    new = [e for e in after if e not in seen]
    obj = {"obj": f"{pair[0]} {pair[1]}"}
    for error in new[:LOGGED_ERRORS]:
        log.warning("instantiation failed: %s", error, extra=obj)
    if len(new) > LOGGED_ERRORS:
        log.warning(
            "instantiation failed for %d more instances", len(new) - LOGGED_ERRORS, extra=obj
        )


__all__ = [
    "Pair",
    "Selection",
    "TriggerStatus",
    "clusters_text",
    "log_new_errors",
    "select",
    "source_problem",
    "statuses",
]
