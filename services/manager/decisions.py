"""What a publisher must do with one KV key (:meth:`~services.manager.publication.Publication.decide`)."""

from __future__ import annotations

from typing import Any, Final, NamedTuple


class Put(NamedTuple):
    """Publish ``value`` under the key (the publisher skips an unchanged body)."""

    value: Any


class Wait(NamedTuple):
    """Inside its removal grace period, or waiting for the withdrawal guard's verdict: ask
    again in ``seconds``."""

    seconds: float


class Held(NamedTuple):
    """A withdrawal the withdrawal guard holds: the key stays as it is, and is a failure of
    its own carrying the hold's ``message`` (its trigger's status, ``/v1/errors``,
    ``/v1/publication``) until the hold ends. The publisher logs a hold once per trigger,
    not once per key."""

    message: str
    kind: str
    trigger: str
    token: str
    going: int
    total: int

    def __str__(self) -> str:
        return self.message


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


DELETE: Final = _Marker("DELETE")
"""Withdraw the key (published, no longer wanted, nothing holds it)."""
HOLD: Final = _Marker("HOLD")
"""Leave the key as it is: its pair's report is unknown since the restart."""
NOTHING: Final = _Marker("NOTHING")
"""Nothing to do: not wanted and not published."""

Decision = Put | Wait | Held | _Marker


__all__ = ["DELETE", "HOLD", "NOTHING", "Decision", "Held", "Put", "Wait"]
