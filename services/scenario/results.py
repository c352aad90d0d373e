"""The results of scenario steps: per step (:class:`StepResult`) and per object or release an
expectation names (:class:`ItemResult`); see :mod:`services.scenario.steps` for the timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.scenario.model import Step

UNKNOWN = "?"


@dataclass
class ItemResult:
    """One object of an ``expect``: ``mode`` is ``present`` or ``absent``."""

    what: str
    mode: str
    cluster: str
    ok: bool = False
    held_ms: float | None = None
    before: str | None = UNKNOWN
    """resourceVersion before the batch of actions ("" when absent then, unknown otherwise)."""
    after: str = ""
    """resourceVersion when it held ("" when absent)."""
    problems: list[str] = field(default_factory=list)
    detail: str = ""
    """What a release is when last read (``revision 2, deployed, chart kyverno 2.6.0``)."""

    @property
    def change(self) -> str:
        """``appeared``/``was updated``/``is in place``/``was removed``/``is absent``."""
        if self.mode == "present":
            if self.before == "":
                return "appeared"
            if self.before not in (UNKNOWN, self.after):
                return "was updated"
            return "is in place"
        return "was removed" if self.before not in ("", UNKNOWN) else "is absent"


@dataclass
class StepResult:
    step: Step
    ok: bool
    duration_ms: float = 0.0
    latency_ms: float | None = None
    items: list[ItemResult] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    trigger: str = ""
    first_in_batch: bool = False
    """An expect right after actions (its latency measures them); later expects of the same
    batch only confirm more (their ``latency_ms`` includes the earlier expects' waits)."""
    error: str = ""
    logs: str = ""
    skipped: bool = False

    @property
    def number(self) -> int:
        return self.step.number

    @property
    def measures_change(self) -> bool:
        """A passing first expect of a batch in which something appeared, changed or went:
        its ``latency_ms`` is an event-to-add-on latency (statistics use only these)."""
        return (
            self.ok
            and self.first_in_batch
            and self.latency_ms is not None
            and any(i.change in ("appeared", "was updated", "was removed") for i in self.items)
        )

    @property
    def kind(self) -> str:
        return self.step.kind

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step.number,
            "kind": self.step.kind,
            "description": self.step.describe(),
            "ok": self.ok,
            "skipped": self.skipped,
            "duration_ms": round(self.duration_ms, 3),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "first_in_batch": self.first_in_batch,
            "measures_change": self.measures_change,
            "items": [
                {
                    "object": i.what,
                    "cluster": i.cluster,
                    "mode": i.mode,
                    "ok": i.ok,
                    "held_ms": None if i.held_ms is None else round(i.held_ms, 3),
                    "change": i.change,
                    "detail": i.detail,
                    "problems": i.problems,
                }
                for i in self.items
            ],
            "changes": self.changes,
            "error": self.error,
        }
