"""What the reporter writes, and how it reads the API server's answers (pure).

A :class:`Write` is the wanted content of one object (a :data:`Build` makes it when its
write is due); a :class:`Binding` is a kind whose status the reporter computes itself
(:mod:`services.reporter.statuses`). :func:`is_terminal` and :func:`is_gone` read a failed
request: refused for its content (retrying cannot help), or positive knowledge that the
object is not there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.api.vocabulary import GVK, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ObjectKey
from shared.kube import DiscoveryFailed, KindNotServed, KubeError

FIELD_MANAGER = "ripple-reporter"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
#: answers that retrying the same request cannot change
TERMINAL_STATUSES = frozenset({400, 413, 415, 422})


def is_terminal(exc: KubeError) -> bool:
    """The API server refused the content itself (retrying cannot help)."""
    return exc.status in TERMINAL_STATUSES and not isinstance(exc, DiscoveryFailed)


def is_gone(exc: KubeError) -> bool:
    """Positive knowledge that the object is not there: a 404 for it, or its kind not
    served. A discovery that failed (even with a 404) is unknown."""
    if isinstance(exc, DiscoveryFailed):
        return False
    return isinstance(exc, KindNotServed) or exc.status == 404


def fingerprint(value: Any) -> str:
    """SHA-256 of ``value``'s canonical JSON."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def holds(live: Any, status: Mapping[str, Any] | None) -> bool:
    """Whether the status ``live`` (an object's, as the server answered it) already is what
    the merge patch ``status`` would make it (None: a field absent), so the patch is not
    needed. A missing or unreadable ``live`` holds nothing."""
    if status is None or not isinstance(live, dict):
        return False
    return all(
        live.get(k) == v if v is not None else live.get(k) is None for k, v in status.items()
    )


@dataclass(frozen=True)
class Write:
    """The wanted content of one object; ``status`` is merge-patched after the apply."""

    obj: dict[str, Any]
    status: dict[str, Any] | None = None

    def digest(self) -> str:
        """A fingerprint of the content (identical writes are skipped)."""
        return fingerprint([self.obj, self.status])


#: content built when its write is due: called on the loop, returns what builds the
#: :class:`Write` in a worker thread (from an immutable copy), or None: nothing to write now
Build = Callable[[], Callable[[], Write] | None]
Wanted = Write | Build | None


#: the status of an object of a bound kind, called when its patch is due (on the loop):
#: returns what builds the status in a worker thread, or None: unknown now (queued again
#: once known)
StatusOf = Callable[[ObjectKey], Callable[[], dict[str, Any]] | None]


@dataclass(frozen=True)
class Binding:
    """A kind whose status the reporter computes; ``fields`` are the status fields it owns
    (what two statuses are compared on)."""

    gvk: GVK
    status_of: StatusOf
    fields: tuple[str, ...]

    def key(self, key: ObjectKey) -> ObjectKey:
        """The object's key at the version its status is written at."""
        return ObjectKey(self.gvk.api_version, self.gvk.kind, key.namespace, key.name)

    def digest(self, status: Mapping[str, Any] | None) -> str:
        """A fingerprint of the owned fields (absent and None alike)."""
        return fingerprint([(status or {}).get(f) for f in self.fields])


class SweepDeferred(Exception):
    """The orphan sweep of a kind must wait: some NATS values are unknown (retried)."""


#: called on the loop before a sweep compares: protects unknown objects, returns why the
#: sweep must wait ("" when it may go on)
Prepare = Callable[[], str]


__all__ = [
    "FIELD_MANAGER",
    "MANAGED_SELECTOR",
    "TERMINAL_STATUSES",
    "Binding",
    "Build",
    "Prepare",
    "StatusOf",
    "SweepDeferred",
    "Wanted",
    "Write",
    "fingerprint",
    "holds",
    "is_gone",
    "is_terminal",
]
