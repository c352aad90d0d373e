"""What a DryRun reports: per object what an apply would do, and the outcome's summary (pure).

Sveltos' DryRun (addon-controller, ``syncMode: DryRun``) changes nothing and fills a
ClusterReport with one ``ResourceReport`` per object: ``Create`` (absent), ``Update`` (with
the difference), ``No Action`` (unchanged), ``Delete`` (would be removed), ``Conflict``
(another profile owns it) or ``Error``; the ClusterSummary says "mode is DryRun. Nothing is
reconciled". Ripple's agent does the same for its outcome: the ``Update`` difference is
computed between the live object and what a server-side apply dry run (``dryRun=All``)
answers, so defaulting, list merges and admission are the server's own (:func:`changes`);
the outcome's status is ``DryRun`` and its message sums the reports up (:func:`summary`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m

SERVER_METADATA = {"resourceVersion", "generation", "managedFields", "uid", "creationTimestamp"}
"""Metadata the server changes on every write: never a change of the object."""

MAX_FIELDS = 10
"""Changed fields named in one ``Update`` report at most (the others are counted)."""

MAX_VALUE = 60
"""Characters of one value shown in a report at most."""

MAX_DETAILS = 20
"""Objects named in the outcome's message at most (every one is in ``resourceReports``)."""

NOTHING = "mode is DryRun. Nothing is reconciled"
"""Sveltos' words for a DryRun ClusterSummary (``DryRunReconciliationError``)."""


def changes(live: Any, proposed: Any, path: str = "") -> list[str]:
    """The fields ``proposed`` (what the apply would leave) changes in ``live``, each as
    ``path: old -> new`` (``(absent)`` for a field added or removed), in document order."""
    if isinstance(live, Mapping) and isinstance(proposed, Mapping):
        out: list[str] = []
        for key in [*live, *(k for k in proposed if k not in live)]:
            if path == ".metadata" and key in SERVER_METADATA:
                continue
            if path == "" and key == "status":
                continue  # the apply never writes the status subresource
            out.extend(changes(live.get(key, _ABSENT), proposed.get(key, _ABSENT), f"{path}.{key}"))
        return out
    if isinstance(live, list) and isinstance(proposed, list) and len(live) == len(proposed):
        out = []
        for index, (old, new) in enumerate(zip(live, proposed, strict=True)):
            out.extend(changes(old, new, f"{path}[{index}]"))
        return out
    if live == proposed:
        return []
    return [f"{path or '.'}: {_show(live)} -> {_show(proposed)}"]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT: Any = _Absent()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def update_message(fields: list[str]) -> str:
    """The message of an ``Update`` report: the changed fields (at most :data:`MAX_FIELDS`)."""
    shown = "; ".join(fields[:MAX_FIELDS])
    more = len(fields) - MAX_FIELDS
    return f"{shown}; and {more} more field(s)" if more > 0 else shown


def report(key: ObjectKey, action: m.ResourceAction, message: str = "") -> m.ResourceReport:
    return m.ResourceReport(object=m.ObjectRef.from_key(key), action=action, message=message)


def would(key: ObjectKey, live: Mapping[str, Any] | None, proposed: Any) -> m.ResourceReport:
    """The report of one object a DryRun would apply (``live`` None: absent)."""
    if live is None:
        return report(key, "Create")
    fields = changes(live, proposed)
    if not fields:
        return report(key, "No Action", "Object already deployed and unchanged")
    return report(key, "Update", update_message(fields))


VERBS: dict[str, str] = {
    "Create": "create",
    "Update": "update",
    "Delete": "delete",
    "No Action": "leave unchanged",
    "Conflict": "conflict",
    "Error": "error",
}


def summary(reports: Iterable[m.ResourceReport], notes: Iterable[str] = ()) -> str:
    """The outcome's message: Sveltos' DryRun sentence, the count of each action, then the
    objects that would change (each with its fields) and the conflicts and errors."""
    reports = list(reports)
    counts: Counter[str] = Counter(r.action for r in reports)
    parts = [f"{VERBS[a]} {counts[a]}" for a in VERBS if counts[a]]
    details = [
        f"{r.action} {r.object}" + (f" ({r.message})" if r.message else "")
        for r in reports
        if r.action != "No Action"
    ]
    text = f"{NOTHING}: would {', '.join(parts)}" if parts else NOTHING
    more = len(details) - MAX_DETAILS
    shown = [*details[:MAX_DETAILS], f"and {more} more (resourceReports)"] if more > 0 else details
    return "; ".join([text, *shown, *notes])


__all__ = ["NOTHING", "changes", "report", "summary", "update_message", "would"]
