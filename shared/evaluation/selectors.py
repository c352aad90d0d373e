"""One resourceSelector of a compiled EventSource and its own verdict on an object.

A :class:`Selector` is the compiled form of a resourceSelector: its cheap pre-filter
(:class:`~shared.evaluation.matching.SelectorFilter`), whether it has a Lua script (compiled in
the EventSource's sandbox under the selector's index) and its CEL rules. :func:`judge` is its
verdict on an object the pre-filter accepted, by sveltos-semantics.md §1.6 (the table in
:mod:`shared.evaluation.engine`): the hot path, called by
:class:`~shared.evaluation.engine.CompiledEventSource` for each selecting selector until one
matches. :func:`outcomes` gives every selecting selector's verdict and what decided it
(:class:`SelectorOutcome`, for :mod:`shared.evaluation.explaining`).

Lua and CEL run in the EventSource's worker thread: the caller passes that thread's sandbox
(``None`` on the caller's thread, for selectors without a script).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.api.eventsource import ResourceSelector
from shared.evaluation.cel import CelRules
from shared.evaluation.matching import SelectorFilter
from shared.evaluation.sandbox import LuaSandbox


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled resourceSelector: pre-filter, Lua script (or not), CEL rules (or not)."""

    filter: SelectorFilter
    lua: bool
    cel: CelRules | None

    @classmethod
    def compile(cls, index: int, sel: ResourceSelector) -> Selector:
        """resourceSelectors[``index``] compiled (its Lua script, if any, is compiled by the
        EventSource's sandbox; a CEL rule that does not compile is in ``cel.problems``)."""
        cel = None
        if sel.evaluate_cel:
            rules = [(r.name, r.rule) for r in sel.evaluate_cel]
            cel = CelRules(rules, f"resourceSelectors[{index}].evaluateCEL")
        return cls(SelectorFilter.compile(index, sel), bool(sel.evaluate.strip()), cel)

    @property
    def isolated(self) -> bool:
        """Evaluated in the worker thread (a script, CEL rules: code of the definition)."""
        return self.lua or self.cel is not None


@dataclass(frozen=True, slots=True)
class SelectorOutcome:
    """One resourceSelector's own verdict on an object (:func:`outcomes`): what decided it
    (``filters``: its labelFilters/selector alone, ``CEL``, ``Lua``) and the engine's
    message (e.g. "CEL rule 'lb' matched", Lua's ``hs.message``)."""

    index: int
    matching: bool
    decided_by: str
    message: str = ""
    error: str | None = None


def judge(
    sel: Selector, obj: dict[str, Any], sandbox: LuaSandbox | None, source: str
) -> tuple[bool, str, str | None]:
    """(matching, message, error) of ``sel`` on ``obj`` (accepted by its pre-filter) for
    EventSource ``source``: CEL true matches; otherwise the Lua result, or without Lua the
    CEL result; neither: a match."""
    if sel.cel is not None:
        rule = sel.cel.first_match(obj)
        if rule is not None:
            return True, f"CEL rule {rule!r} matched", None
        if not sel.lua:
            return False, "no CEL rule matched", None
    if not sel.lua:
        return True, "", None
    assert sandbox is not None
    outcome = sandbox.evaluate(sel.filter.index, obj)
    if outcome.error is not None:
        return False, "", f"EventSource {source!r}: {outcome.error}"
    return outcome.matching, outcome.message, None


def outcomes(
    selectors: list[Selector], obj: dict[str, Any], sandbox: LuaSandbox | None, source: str
) -> list[SelectorOutcome]:
    """Each of ``selectors``' verdict on ``obj`` (none stops the others) and what decided it."""
    out = []
    for sel in selectors:
        matched, msg, error = judge(sel, obj, sandbox, source)
        cel_decided = sel.cel is not None and (matched or not sel.lua)
        by = "CEL" if cel_decided else "Lua" if sel.lua else "filters"
        out.append(SelectorOutcome(sel.filter.index, matched, by, msg, error))
    return out
