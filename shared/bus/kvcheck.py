"""What a KV bucket may hold, and what a store could not read: the trust boundary of
:mod:`shared.bus.kv`.

- :data:`KEY_PARSERS`: the key grammar of each bucket of the contract;
- :func:`writer_of`: the writer the contract names for a value (its CloudEvents
  ``source``): the manager for assignments, desired states, profiles and statuses, the
  cluster's agent for everything an agent writes;
- :func:`read_value`: a value decoded, checked to belong under its key and to come from
  its writer (:class:`InvalidMessage` otherwise);
- :func:`put_value`: a value written, with NATS headers when given;
- :class:`ReadProblems`: what a store skipped (counters, the keys whose state is unknown,
  why, per key and bounded) and its per-bucket metrics; :class:`shared.bus.kv.KVStore`
  is one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from shared.contract import payloads, streams, subjects
from shared.contract.errors import InvalidMessage
from shared.contract.messages import MANAGER_SOURCE, Envelope, decode, message_key
from shared.contract.streams import BucketSpec

E = TypeVar("E", bound=Envelope)

KeyParser = Callable[[str], object]
"""Parses a key of one bucket; raises :class:`InvalidSubject` for any other string."""

KEY_PARSERS: dict[str, KeyParser] = {
    streams.ASSIGNMENTS.bucket: subjects.parse_assignment_key,
    streams.REPORTS.bucket: subjects.parse_report_key,
    streams.MATCHES.bucket: subjects.parse_match_key,
    streams.DESIRED.bucket: subjects.parse_desired_key,
    streams.OUTCOMES.bucket: subjects.parse_outcome_key,
    streams.AGENTS.bucket: subjects.parse_agent_key,
    streams.PROFILES.bucket: subjects.parse_profile_key,
    streams.STATUS.bucket: subjects.parse_status_key,
}
"""The key grammar of each bucket of the contract (section 3 of docs/nats-contract.md)."""

MAX_PROBLEMS = 100
"""Keys whose problem a store remembers for the status (the newest are kept)."""

_MANAGER_PAYLOADS = (
    payloads.Assignment,
    payloads.DesiredState,
    payloads.ProfileState,
    payloads.DefinitionStatus,
)


async def put_value(
    kv: Any, key: str, value: bytes, headers: Mapping[str, str] | None = None
) -> int:
    """Put ``value`` under ``key`` of a nats-py ``KeyValue``; with ``headers``, published on
    the key's subject (``$KV.<bucket>.<key>``, what ``KeyValue.put`` does, which cannot
    carry headers in nats-py 2.16). Returns the revision; nats-py's errors are raised."""
    if not headers:
        revision: int = await kv.put(key, value)
        return revision
    ack = await kv._js.publish(f"{kv._pre}{key}", value, headers=dict(headers))
    return int(ack.seq)


def writer_of(message: Envelope) -> str:
    """The CloudEvents ``source`` the contract names for ``message``: the manager for
    assignments, desired states, profiles and statuses, else its cluster's agent."""
    data = message.data  # type: ignore[attr-defined]
    if isinstance(data, _MANAGER_PAYLOADS):
        return MANAGER_SOURCE
    source: str = data.cluster.source
    return source


def read_value(bucket: str, expected: type[E] | tuple[type[E], ...], key: str, value: bytes) -> E:
    """Decode a value read under ``key`` of ``bucket``; :class:`InvalidMessage` when
    malformed, when its data belongs under another key, or when its ``source`` is not the
    writer the contract names for it (:func:`writer_of`)."""
    where = f"{bucket} key {key}"
    message: E = decode(value, expected, where=where)
    owner = message_key(message)
    if owner != key:
        raise InvalidMessage(f"{where}: the value belongs under {owner!r} (spoofed?)")
    writer = writer_of(message)
    if message.source != writer:
        raise InvalidMessage(f"{where}: written by {message.source!r}, not by {writer!r} (refused)")
    return message


class ReadProblems:
    """What a store of the bucket ``spec`` skipped: values and keys it could not read."""

    spec: BucketSpec

    def __init__(self) -> None:
        self.invalid_values = 0
        self.invalid_keys = 0
        #: keys whose latest value could not be read: their state is UNKNOWN (not deleted)
        self.invalid: set[str] = set()
        #: key -> why its value or the key itself cannot be read (at most MAX_PROBLEMS)
        self.problems: dict[str, str] = {}

    @property
    def skipped(self) -> int:
        """Every value and key skipped so far."""
        return self.invalid_values + self.invalid_keys

    def _remember(self, key: str, problem: str) -> None:
        self.problems.pop(key, None)
        self.problems[key] = problem
        while len(self.problems) > MAX_PROBLEMS:
            del self.problems[next(iter(self.problems))]

    def _readable(self, key: str) -> None:
        self.invalid.discard(key)
        self.problems.pop(key, None)

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """Per-bucket counters (``kv_<bucket>_...``, the bucket without ``ripple-``)."""
        name = self.spec.bucket.removeprefix("ripple-").replace("-", "_")
        bucket = self.spec.bucket
        return {
            f"kv_{name}_invalid_values_total": (
                "counter",
                f"Values of {bucket} skipped: unreadable, of another type, under a key or "
                "from a writer they do not belong to (the key's state is unknown)",
                self.invalid_values,
            ),
            f"kv_{name}_invalid_keys_total": (
                "counter",
                f"Puts and deletes of {bucket} under keys outside the contract, skipped",
                self.invalid_keys,
            ),
            f"kv_{name}_unreadable_keys": (
                "gauge",
                f"Keys of {bucket} whose latest value cannot be read (kept as they were)",
                len(self.invalid),
            ),
        }


__all__ = [
    "KEY_PARSERS",
    "MAX_PROBLEMS",
    "KeyParser",
    "ReadProblems",
    "put_value",
    "read_value",
    "writer_of",
]
