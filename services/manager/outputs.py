"""The manager's outputs as the NATS contract spells them (pure): bucket names, KV keys,
payloads built from the state's values, and encoding within the message limit.

An output that cannot be encoded, or whose encoded size exceeds the limit (the server's
``max_payload``, the contract's :data:`~shared.contract.limits.MAX_MESSAGE_BYTES`, or the
manager's ``--max-message-bytes`` when lower), raises :class:`~shared.runtime.errors.Terminal`
with a message naming the profile (or key), the size and the limit: retrying cannot help, so
the publisher keeps it as the key's failure and the trigger's status shows it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from services.manager.model import ClusterKey, ProfilePlan
from services.manager.state import DesiredEntry
from shared.api.vocabulary import TRIGGER_LABEL_SETS, ClusterType
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.limits import MAX_MESSAGE_BYTES
from shared.contract.payloads import DEFAULT_TIER
from shared.runtime.errors import Terminal

ASSIGNMENTS = streams.ASSIGNMENTS.bucket
DESIRED = streams.DESIRED.bucket
PROFILES = streams.PROFILES.bucket
STATUS = streams.STATUS.bucket
BUCKETS = (ASSIGNMENTS, DESIRED, PROFILES, STATUS)

Item = tuple[str, str]  # (bucket, key): what the publication queue holds
Owner = tuple[str, str]  # (kind, name) of the definition an output is published for


def cluster_ref(key: ClusterKey) -> subjects.ClusterRef:
    return subjects.ClusterRef(
        namespace=key.namespace, name=key.name, type=ClusterType.lower(key.type)
    )


# -- keys (memoised: encoding subject tokens is the costly part of a key) ---------------------
@functools.lru_cache(maxsize=1 << 16)
def assignment_key(cluster: ClusterKey, event_source: str) -> str:
    return subjects.assignment_key(cluster_ref(cluster), event_source)


@functools.lru_cache(maxsize=1 << 17)
def desired_key(cluster: ClusterKey, profile: str) -> str:
    return subjects.desired_key(cluster_ref(cluster), profile)


@functools.lru_cache(maxsize=1 << 17)
def profile_key(source: ClusterKey, profile: str) -> str:
    return subjects.profile_key(cluster_ref(source), profile)


def owner_of_labels(labels: Mapping[str, str]) -> Owner | None:
    """The trigger ``(kind, name)`` a generated output's Sveltos labels name."""
    for keys, kind in zip(TRIGGER_LABEL_SETS, ("EventTrigger", "EventBasedAddOn"), strict=True):
        name = labels.get(keys.trigger_name)
        if name:
            return kind, name
    return None


# -- payloads ----------------------------------------------------------------------------------
def assignment(cluster: ClusterKey, event_source: str, value: Mapping[str, Any]) -> m.Assignment:
    return m.Assignment(
        cluster=cluster_ref(cluster),
        event_source_name=event_source,
        event_source=value["eventSource"],
        triggers=sorted(value["triggers"]),
    )


def desired_state(entry: DesiredEntry, generation: int) -> m.DesiredState:
    return m.DesiredState(
        cluster=cluster_ref(entry.cluster),
        profile_name=entry.profile,
        generation=generation,
        objects=[
            m.DesiredObject(
                manifest=o.manifest,
                hash=o.hash,
                reference=m.ResourceReference(
                    kind=o.reference.kind,
                    namespace=o.reference.namespace,
                    name=o.reference.name,
                ),
                skip_namespace_creation=bool(getattr(o, "skip_namespace_creation", False)),
            )
            for o in entry.objects
        ],
        helm_charts=[
            m.DesiredChart(chart=c.chart, values=c.values, hash=c.hash) for c in entry.charts
        ],
        labels=dict(entry.labels),
        sync_mode=entry.sync_mode,
        stop_matching_behavior=entry.stop_matching_behavior,
        # the profile's tier and continueOnConflict (DesiredEntry's, when it carries them)
        tier=int(getattr(entry, "tier", DEFAULT_TIER) or DEFAULT_TIER),
        continue_on_conflict=bool(getattr(entry, "continue_on_conflict", False)),
    )


def profile_state(plan: ProfilePlan) -> m.ProfileState:
    return m.ProfileState(
        cluster=cluster_ref(plan.source),
        profile_name=plan.name,
        trigger=plan.trigger,
        cluster_profile=plan.cluster_profile,
        instantiated=plan.instantiated,
        error=plan.error,
    )


Payload = m.Assignment | m.DesiredState | m.ProfileState | m.DefinitionStatus


def payload(bucket: str, value: Any, generation: int) -> Payload:
    """The payload of ``value`` (a wanted value of :class:`~.publication.Publication`)."""
    if bucket == DESIRED:
        return desired_state(value, generation)
    if bucket == PROFILES:
        return profile_state(value)
    if bucket == ASSIGNMENTS:
        cluster, event_source, body = value
        return assignment(cluster, event_source, body)
    if isinstance(value, m.DefinitionStatus):
        return value
    raise TypeError(f"no payload for {type(value).__name__} in {bucket}")


def checked_payload(bucket: str, value: Any, generation: int, what: str) -> Payload:
    """:func:`payload`; :class:`Terminal` when the value does not make a valid message."""
    try:
        return payload(bucket, value, generation)
    except (ValidationError, ValueError, TypeError) as exc:
        raise Terminal(f"{what} is not a valid message: {exc}") from exc


def describe(bucket: str, key: str, value: Any = None) -> str:
    """What an output is, for messages: the profile and cluster when known."""
    if bucket == DESIRED and isinstance(value, DesiredEntry):
        return f"desired state of profile {value.profile} for {value.cluster}"
    if bucket == PROFILES and isinstance(value, ProfilePlan):
        return f"profile {value.name} (ClusterProfile and instantiated objects)"
    return f"{bucket} key {key}"


def effective_limit(max_payload: int, configured: int = 0) -> int:
    """The largest message the manager publishes: the server's ``max_payload``, the
    contract's limit, and the configured one when set (0: not set)."""
    limits = [max_payload or MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES]
    if configured > 0:
        limits.append(configured)
    return min(limits)


def encode(data: Payload, limit: int, what: str) -> bytes:
    """The envelope of ``data`` as bytes; :class:`Terminal` when it cannot be encoded or is
    over ``limit`` bytes (``what`` names the output in the message)."""
    try:
        raw = m.envelope(data).model_dump_json().encode("utf-8")
    except (ValidationError, ValueError, TypeError, RecursionError) as exc:
        raise Terminal(f"{what} cannot be encoded: {exc}") from exc
    if len(raw) > limit:
        raise Terminal(
            f"{what} is {len(raw)} bytes encoded, over the {limit}-byte message limit; "
            "nothing of it is published"
        )
    return raw
