"""What a release is and what to do with it: the pure decisions of :mod:`shared.helm.sdk`.

**Ownership.** Ripple marks its releases with Helm release labels (Helm v4 stores them on
the release and on its storage Secret): ``ripple.io/managed-by=ripple``, ``ripple.io/owner``
(the caller's owner, e.g. the ClusterProfile's name) and ``ripple.io/chart-digest`` (the
chart archive's sha256, 40 hex digits: an edited local chart under the same version is
still an upgrade). A release without the managed-by label was installed by someone else
(the helm CLI, Sveltos, Flux): Ripple refuses to upgrade or uninstall it
(:class:`~shared.helm.errors.ReleaseConflict`), as it refuses one of another owner, unless
the caller adopts it.

**Decision** (:func:`decide`), from the stored release's status:

- absent: install; ``uninstalled`` with history kept: install with ``replace``;
- ``deployed`` (or ``superseded``/``unknown``): upgrade when the chart name, version or
  digest, the values or the labels differ, else nothing;
- ``failed``: upgrade (Helm upgrades a failed release);
- ``pending-*``/``uninstalling``: another operation is running (retry later), unless it
  started more than one operation timeout ago: then it was interrupted (a crash), and it is
  recovered: an unfinished install or uninstall is uninstalled and installed again, an
  unfinished upgrade or rollback is rolled back before the upgrade.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

import yaml

from shared.api.vocabulary import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from shared.api.yamlio import YamlLimits, load_bounded
from shared.helm import errors as e

OWNER_LABEL = "ripple.io/owner"
DIGEST_LABEL = "ripple.io/chart-digest"
DIGEST_LENGTH = 40
#: bounds on a release's manifest as read back (Helm's own render of a chart: larger than a
#: definition may be, still bounded before any object is built)
MANIFEST_LIMITS = YamlLimits(max_nodes=2_000_000, max_bytes=32 << 20, max_text=256 << 20)
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
#: the labels Helm's storage driver puts on its Secrets (not the release's own labels)
STORAGE_LABELS = frozenset({"name", "owner", "status", "version", "createdAt", "modifiedAt"})
PENDING = ("pending-install", "pending-upgrade", "pending-rollback", "uninstalling")

Action = Literal["install", "upgrade", "uninstall", "none"]
Step = Literal["install", "replace", "upgrade", "none", "busy", "reinstall", "rollback"]


class ReleaseRef(NamedTuple):
    """A release by namespace and name."""

    namespace: str
    name: str


@dataclass(frozen=True)
class ManifestDiff:
    """Objects (``Kind namespace/name``) a change adds, changes and removes."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed"]
        parts += [f"{len(self.removed)} removed", f"{self.unchanged} unchanged"]
        return ", ".join(parts)


@dataclass(frozen=True)
class ReleaseResult:
    """What an operation did (or, with ``dry_run``, would do) to a release."""

    action: Action
    release: str
    namespace: str
    revision: int
    status: str
    chart_name: str = ""
    chart_version: str = ""
    app_version: str = ""
    reason: str = ""
    dry_run: bool = False
    diff: ManifestDiff | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return self.action != "none"


@dataclass(frozen=True)
class ReleaseInfo:
    """A stored release: revision, chart, status, labels and (from ``status``) values."""

    name: str
    namespace: str
    revision: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str
    deployed_at: str
    labels: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] | None = None

    @property
    def managed(self) -> bool:
        """Installed by Ripple."""
        return self.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE

    @property
    def owner(self) -> str:
        return self.labels.get(OWNER_LABEL, "")

    @classmethod
    def of(cls, summary: Mapping[str, Any], values: Mapping[str, Any] | None = None) -> ReleaseInfo:
        """From a Helm release summary (``status``/``list``/``install`` output)."""
        return cls(
            name=str(summary.get("name", "")),
            namespace=str(summary.get("namespace", "")),
            revision=int(summary.get("revision") or 0),
            status=str(summary.get("status", "")),
            chart_name=str(summary.get("chart_name", "")),
            chart_version=str(summary.get("chart_version", "")),
            app_version=str(summary.get("app_version", "") or ""),
            deployed_at=str(summary.get("deployed_at", "") or ""),
            labels={
                k: v for k, v in (summary.get("labels") or {}).items() if k not in STORAGE_LABELS
            },
            values=values,
        )


def release_labels(
    owner: str, digest: str, user: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
) -> dict[str, str]:
    """The labels of a Ripple release: the user's, then Ripple's marks (which win)."""
    if not _LABEL_VALUE_RE.match(owner) or len(owner) > 63:
        raise ValueError(f"owner {owner!r} is not a label value (63 characters of [-_.A-Za-z0-9])")
    return {
        **dict(user),
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        OWNER_LABEL: owner,
        DIGEST_LABEL: digest[:DIGEST_LENGTH],
    }


def ownership_problem(current: ReleaseInfo, owner: str) -> str:
    """Why ``owner`` may not touch this release ("" when it may)."""
    if not current.managed:
        return (
            f"the release exists and is not managed by Ripple (no label "
            f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}; installed by {current.labels or 'Helm'}): "
            "refusing to take it over"
        )
    if current.owner != owner:
        return f"the release belongs to {current.owner or 'no owner'!r}, not {owner!r}"
    return ""


def check_owner(current: ReleaseInfo, owner: str, adopt: bool, where: e.Where) -> None:
    """Raise :class:`~shared.helm.errors.ReleaseConflict` unless ``owner`` may touch the
    release (or adopts it)."""
    problem = ownership_problem(current, owner)
    if problem and not adopt:
        raise e.ReleaseConflict(problem, where)


def _age(deployed_at: str, now: datetime) -> float:
    try:
        return (now - datetime.fromisoformat(deployed_at)).total_seconds()
    except ValueError:
        return float("inf")  # no usable time: treat as long interrupted


def same_values(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Equal once both went through JSON (as Helm stores them: ``1.0`` is ``1``)."""
    return bool(json.loads(json.dumps(a or {})) == json.loads(json.dumps(b or {})))


def decide(
    current: ReleaseInfo | None,
    *,
    chart_name: str,
    chart_version: str,
    labels: Mapping[str, str],
    values: Mapping[str, Any],
    now: datetime,
    stale_after: float,
) -> tuple[Step, str]:
    """The next step for a release and why (see the module docstring)."""
    if current is None:
        return "install", "the release does not exist"
    status = current.status
    if status in PENDING:
        age = _age(current.deployed_at, now)
        if age < stale_after:
            return "busy", f"the release is {status} since {age:.0f}s (another operation)"
        if status in ("pending-install", "uninstalling"):
            return "reinstall", f"the release was left {status} {age:.0f}s ago"
        return "rollback", f"the release was left {status} {age:.0f}s ago"
    if status == "uninstalled":
        return "replace", "the release was uninstalled (history kept)"
    if status == "failed":
        return "upgrade", "the last operation failed"
    reasons = []
    if current.chart_name != chart_name:
        reasons.append(f"chart {current.chart_name} -> {chart_name}")
    if current.chart_version != chart_version:
        reasons.append(f"chart version {current.chart_version} -> {chart_version}")
    elif current.labels.get(DIGEST_LABEL) != labels.get(DIGEST_LABEL):
        reasons.append("chart content changed")
    if not same_values(current.values, values):
        reasons.append("values changed")
    if any(current.labels.get(k) != v for k, v in labels.items() if k != DIGEST_LABEL):
        reasons.append("labels changed")
    if status != "deployed":
        reasons.append(f"status {status}")
    return ("upgrade", "; ".join(reasons)) if reasons else ("none", "unchanged")


def objects(manifests: str | Mapping[str, str]) -> dict[str, str]:
    """``Kind namespace/name`` -> canonical JSON of each object of rendered manifests
    (a release manifest, or Helm's rendered templates by path); hooks are left out."""
    texts = [manifests] if isinstance(manifests, str) else list(manifests.values())
    out: dict[str, str] = {}
    for text in texts:
        for doc in load_bounded(text, yaml.SafeLoader, limits=MANIFEST_LIMITS):
            if not isinstance(doc, dict) or not doc.get("kind"):
                continue
            meta = doc.get("metadata") or {}
            if "helm.sh/hook" in (meta.get("annotations") or {}):
                continue
            where = f"{meta['namespace']}/" if meta.get("namespace") else ""
            out[f"{doc['kind']} {where}{meta.get('name', '')}"] = json.dumps(doc, sort_keys=True)
    return out


def diff(before: str | Mapping[str, str], after: str | Mapping[str, str]) -> ManifestDiff:
    """What going from the ``before`` manifests to the ``after`` ones changes."""
    old, new = objects(before), objects(after)
    return ManifestDiff(
        added=tuple(sorted(new.keys() - old.keys())),
        changed=tuple(sorted(k for k in new.keys() & old.keys() if new[k] != old[k])),
        removed=tuple(sorted(old.keys() - new.keys())),
        unchanged=sum(1 for k in new.keys() & old.keys() if new[k] == old[k]),
    )


__all__ = [
    "DIGEST_LABEL",
    "OWNER_LABEL",
    "Action",
    "ManifestDiff",
    "ReleaseInfo",
    "ReleaseRef",
    "ReleaseResult",
    "Step",
    "check_owner",
    "decide",
    "diff",
    "objects",
    "ownership_problem",
    "release_labels",
    "same_values",
]
