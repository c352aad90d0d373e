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

Decision = Put | Wait | _Marker


__all__ = ["DELETE", "HOLD", "NOTHING", "Decision", "Put", "Wait"]
