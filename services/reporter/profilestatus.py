"""The status of a generated ClusterProfile: what each destination cluster's agent did (pure).

Agents publish, per (destination cluster, profile), an :class:`~shared.contract.payloads.
ApplyOutcome` in ``ripple-outcomes``: the objects applied, the Helm releases, ``Provisioned``
or ``Failed`` and why. :class:`ProfileOutcomes` keeps, per profile (the ClusterProfile's
name), a compact summary of each destination's outcome (:class:`ClusterOutcome`: counts and
truncated messages, never the applied objects), and :func:`profile_status` turns them into
the ClusterProfile's ``status``:

- ``matchingClusters`` -- Sveltos' field: the clusters (SveltosCluster or CAPI Cluster
  references) that have an outcome;
- ``clusters`` -- Ripple's detail, one entry per destination, sorted: ``status``,
  ``generation``, ``objects`` (count), ``failureMessage``, and ``helmReleaseSummaries`` with
  Sveltos' HelmChartSummary names (``releaseName``, ``releaseNamespace``, ``status``
  ``Managing`` / ``Conflict`` (another owner holds the release) / ``Failed``,
  ``conflictMessage``) plus the chart, its versions, Helm's ``releaseStatus`` and ``action``;
- ``clusterCounts`` -- destinations per status (always complete);
- ``omittedClusters`` -- destinations left out of both lists.

Bounded: at most :data:`MAX_CLUSTERS` destinations, within :data:`STATUS_BUDGET` bytes (the
failed and unknown ones are listed first), each message at most :data:`MESSAGE_BYTES`: a
profile deployed in thousands of clusters stays far under the API server's object size
limit. A field with nothing to say is None (removed by the merge patch, omitted as Sveltos
omits empty fields), so a profile without outcomes has no status at all.

Unknown is never "gone": an outcome that cannot be read keeps the entry read before; one
never read is listed with status ``Unknown`` (:meth:`ProfileOutcomes.take`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.api.vocabulary import ClusterKey
from shared.contract import messages as m
from shared.contract import streams

#: the status fields the reporter owns (a merge patch sets or removes exactly these)
STATUS_FIELDS = ("matchingClusters", "clusters", "clusterCounts", "omittedClusters")
#: destinations listed at most (the others are counted in ``omittedClusters``)
MAX_CLUSTERS = 1000
#: bytes the listed destinations may take (the API server refuses objects over ~1.5 MiB)
STATUS_BUDGET = 512 * 1024
#: bytes of one message at most (failure, conflict)
MESSAGE_BYTES = 1024
#: bytes of a status beyond what is counted (field names, counts)
SLACK = 512

UNKNOWN = "Unknown"
FAILED = "Failed"
MANAGING = "Managing"
CONFLICT = "Conflict"
#: listed first when not every destination fits: the ones that need attention
RANK = {FAILED: 0, UNKNOWN: 0, "Provisioning": 1, "Provisioned": 2, "Removed": 3}

#: what says that another owner holds a release (lower case): the wording of
#: shared.helm.releases.ownership_problem (errors.ReleaseConflict) and Helm's own conflicts
#: (shared.helm.native: an object of the chart belongs to another release or tool)
CONFLICT_MARKERS = (
    "not managed by ripple",
    "refusing to take it over",
    "the release belongs to",
    "invalid ownership metadata",
    "exists and cannot be imported",
)


def truncate(text: str, limit: int = MESSAGE_BYTES) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes, saying how long it was when cut."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    suffix = f" ... [truncated: {len(raw)} bytes]"
    head = raw[: max(0, limit - len(suffix))].decode("utf-8", "ignore")
    return head + suffix


def is_conflict(message: str) -> bool:
    """The message says that another owner or tool holds the release."""
    low = message.lower()
    return any(marker in low for marker in CONFLICT_MARKERS)


@dataclass(frozen=True)
class ReleaseSummary:
    """One Helm release of an outcome (message truncated)."""

    namespace: str
    name: str
    chart_name: str = ""
    chart_version: str = ""
    app_version: str = ""
    revision: int = 0
    release_status: str = ""
    action: str = ""
    message: str = ""
    conflict: bool = False

    @classmethod
    def of(cls, release: m.ReleaseOutcome) -> ReleaseSummary:
        return cls(
            namespace=release.namespace,
            name=release.name,
            chart_name=release.chart_name,
            chart_version=release.chart_version,
            app_version=release.app_version,
            revision=release.revision,
            release_status=release.status,
            action=release.action,
            message=truncate(release.message),
            conflict=release.conflict,
        )

    def summary(self, outcome_failed: bool) -> dict[str, Any]:
        """The ``helmReleaseSummaries`` item: Sveltos' names, then Ripple's."""
        out: dict[str, Any] = {"releaseName": self.name, "releaseNamespace": self.namespace}
        if self.conflict or is_conflict(self.message):  # the text: outcomes of older agents
            out["status"] = CONFLICT
            out["conflictMessage"] = self.message
        elif self.release_status == "failed" or (self.message and outcome_failed):
            out["status"] = FAILED
            out["failureMessage"] = self.message or None
        else:
            out["status"] = MANAGING
            out["message"] = self.message or None  # e.g. what a DryRun would change
        out["chartName"] = self.chart_name or None
        out["chartVersion"] = self.chart_version or None
        out["appVersion"] = self.app_version or None
        out["revision"] = self.revision or None
        out["releaseStatus"] = self.release_status or None
        out["action"] = self.action or None
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class ClusterOutcome:
    """What one destination cluster's agent did with the profile (compact: no objects)."""

    cluster: ClusterKey
    status: str
    generation: int = 0
    message: str = ""
    objects: int = 0
    releases: tuple[ReleaseSummary, ...] = ()

    @classmethod
    def of(cls, outcome: m.ApplyOutcome) -> ClusterOutcome:
        return cls(
            cluster=outcome.cluster.key,
            status=outcome.status,
            generation=outcome.generation,
            message=truncate(outcome.message),
            objects=len(outcome.applied),
            releases=tuple(ReleaseSummary.of(r) for r in outcome.releases),
        )

    @classmethod
    def unreadable(cls, cluster: ClusterKey, profile: str) -> ClusterOutcome:
        """An outcome that cannot be read and was never read: its state is unknown."""
        where = f"NATS KV {streams.OUTCOMES.bucket}"
        return cls(
            cluster=cluster,
            status=UNKNOWN,
            message=f"the outcome of profile {profile} in {where} cannot be read",
        )

    def entry(self) -> dict[str, Any]:
        """The ``clusters`` item of this destination."""
        failed = self.status in (FAILED, UNKNOWN)
        out: dict[str, Any] = {"cluster": reference(self.cluster), "status": self.status}
        if self.status != UNKNOWN:
            out["generation"] = self.generation
            out["objects"] = self.objects
        if self.message:
            out["failureMessage" if failed else "message"] = self.message
        if self.releases:
            out["helmReleaseSummaries"] = [r.summary(failed) for r in self.releases]
        return out


def reference(cluster: ClusterKey) -> dict[str, str]:
    """The cluster's ObjectReference (SveltosCluster or CAPI Cluster), as Sveltos writes it."""
    return cluster.object_key().reference()


def cluster_order(cluster: ClusterKey) -> tuple[str, str, str]:
    return (cluster.namespace, cluster.name, cluster.type)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def profile_status(
    outcomes: Iterable[ClusterOutcome],
    *,
    limit: int = MAX_CLUSTERS,
    budget: int = STATUS_BUDGET,
) -> dict[str, Any]:
    """The ClusterProfile ``status`` (a merge patch of :data:`STATUS_FIELDS`) from the
    outcomes of every destination: at most ``limit`` destinations within ``budget`` bytes,
    the ones needing attention first; the others counted in ``omittedClusters``."""
    by_cluster = {o.cluster: o for o in outcomes}
    if not by_cluster:
        return dict.fromkeys(STATUS_FIELDS)
    ordered = sorted(by_cluster.values(), key=lambda o: cluster_order(o.cluster))
    ordered.sort(key=lambda o: RANK.get(o.status, 1))  # stable: by cluster within a rank
    counts = Counter(o.status for o in ordered)
    chosen: list[tuple[ClusterOutcome, dict[str, Any]]] = []
    used = SLACK + _size(dict(counts))
    for outcome in ordered[:limit]:
        entry = outcome.entry()
        size = _size(entry) + _size(entry["cluster"]) + 2
        if used + size > budget:
            break
        used += size
        chosen.append((outcome, entry))
    chosen.sort(key=lambda pair: cluster_order(pair[0].cluster))
    omitted = len(ordered) - len(chosen)
    return {
        "matchingClusters": [entry["cluster"] for _, entry in chosen] or None,
        "clusters": [entry for _, entry in chosen] or None,
        "clusterCounts": dict(sorted(counts.items())),
        "omittedClusters": omitted or None,
    }


class ProfileOutcomes:
    """The outcomes of ``ripple-outcomes``, per profile then destination (on the loop)."""

    def __init__(self) -> None:
        self._by_profile: dict[str, dict[ClusterKey, ClusterOutcome]] = {}

    def put(self, profile: str, outcome: ClusterOutcome) -> None:
        self._by_profile.setdefault(profile, {})[outcome.cluster] = outcome

    def delete(self, profile: str, cluster: ClusterKey) -> bool:
        """The outcome's key was deleted (the profile left the cluster); True if known."""
        known = self._by_profile.get(profile)
        if known is None or known.pop(cluster, None) is None:
            return False
        if not known:
            del self._by_profile[profile]
        return True

    def get(self, profile: str, cluster: ClusterKey) -> ClusterOutcome | None:
        return self._by_profile.get(profile, {}).get(cluster)

    def take(self, profile: str, unreadable: Iterable[ClusterKey] = ()) -> list[ClusterOutcome]:
        """The outcomes of ``profile``: the ones read, and ``Unknown`` for the destinations
        whose outcome cannot be read and was never read (one read before is kept)."""
        known = self._by_profile.get(profile, {})
        out = list(known.values())
        out.extend(
            ClusterOutcome.unreadable(c, profile) for c in sorted(set(unreadable)) if c not in known
        )
        return out

    def profiles(self) -> list[str]:
        return list(self._by_profile)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_profile.values())


__all__ = [
    "CONFLICT_MARKERS",
    "MAX_CLUSTERS",
    "MESSAGE_BYTES",
    "STATUS_BUDGET",
    "STATUS_FIELDS",
    "ClusterOutcome",
    "ProfileOutcomes",
    "ReleaseSummary",
    "is_conflict",
    "profile_status",
    "reference",
    "truncate",
]
