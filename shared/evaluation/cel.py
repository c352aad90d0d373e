"""``evaluateCEL`` rules with cel-python (sveltos-semantics.md §1.6).

* The only variable is ``resource``: the object as CEL data (integers stay ``int``).
* Rules are ORed in list order; the first rule that yields ``true`` matches.
* A rule that does not parse, errors while evaluating (e.g. a missing key: guard with
  ``has()``) or yields a non-boolean counts as ``false``; it is never an evaluation error.
  Parse errors are reported once, at compile time, in :attr:`CelRules.problems`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CelRule:
    name: str
    program: Any  # celpy.Runner, or None when the rule does not compile


class CelRules:
    """The compiled ``evaluateCEL`` rules of one resourceSelector."""

    def __init__(self, rules: list[tuple[str, str]], where: str) -> None:
        self.where = where
        self.problems: list[str] = []
        self.rules: list[CelRule] = []
        env = celpy.Environment()
        for index, (name, text) in enumerate(rules):
            label = name or f"#{index}"
            try:
                program = env.program(env.compile(text))
            except Exception as exc:  # celpy raises CELParseError and others
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                self.problems.append(
                    f"{where}[{index}] ({label}): rule does not compile, counts as false: {reason}"
                )
                program = None
            self.rules.append(CelRule(label, program))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def first_match(self, obj: dict[str, Any]) -> str | None:
        """The name of the first rule that yields true for ``obj``, else ``None``."""
        try:
            activation = {"resource": json_to_cel(obj)}
        except Exception as exc:
            log.debug("%s: object cannot be converted to CEL data: %s", self.where, exc)
            return None
        for rule in self.rules:
            if rule.program is None:
                continue
            try:
                value = rule.program.evaluate(activation)
            except Exception as exc:
                log.debug("%s: rule %s errored (counts as false): %s", self.where, rule.name, exc)
                continue
            if isinstance(value, celtypes.BoolType) and bool(value):
                return rule.name
        return None
