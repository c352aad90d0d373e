"""Kubernetes label selectors (``metav1.LabelSelector``) and selector strings.

* :class:`LabelSelector` with standard metav1 semantics: all ``matchLabels`` and all
  ``matchExpressions`` must hold; ``NotIn``/``DoesNotExist`` match when the label is absent;
  an empty selector matches everything.
* :func:`parse_selector` parses the string form (``env=fv,tier in (a,b),!legacy``), as used by
  v1alpha1 ``sourceClusterSelector``; ``k!=v`` becomes ``NotIn [v]`` (absent label matches).
* :func:`selector_to_string` renders a selector for a ``labelSelector`` query parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.api.errors import InvalidSelector
from shared.api.meta import ApiModel

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]

_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key, or ``None`` when it is."""
    if not key:
        return "label key must not be empty"
    prefix, sep, name = key.rpartition("/")
    if sep:
        if not prefix:
            return f"label key {key!r}: prefix before '/' must not be empty"
        if len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix):
            return f"label key {key!r}: prefix {prefix!r} is not a DNS subdomain"
    if not name:
        return f"label key {key!r}: name part must not be empty"
    if len(name) > 63:
        return f"label key {key!r}: name part longer than 63 characters"
    if not _NAME_RE.match(name):
        return (
            f"label key {key!r}: name part must be alphanumeric, '-', '_' or '.', "
            "starting and ending with an alphanumeric character"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or ``None`` when it is."""
    if value == "":
        return None
    if len(value) > 63:
        return f"label value {value!r} longer than 63 characters"
    if not _NAME_RE.match(value):
        return (
            f"label value {value!r} must be alphanumeric, '-', '_' or '.', "
            "starting and ending with an alphanumeric character"
        )
    return None


class LabelSelectorRequirement(ApiModel):
    key: str
    operator: Operator
    values: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        problem = label_key_problem(key)
        if problem:
            raise InvalidSelector(key, problem)
        return key

    @field_validator("values", mode="before")
    @classmethod
    def _null_values(cls, values: object) -> object:
        return [] if values is None else values

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise InvalidSelector(
                self.key, f"operator {self.operator} needs at least one value in 'values'"
            )
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise InvalidSelector(self.key, f"operator {self.operator} takes no 'values'")
        for value in self.values:
            problem = label_value_problem(value)
            if problem:
                raise InvalidSelector(self.key, problem)
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present

    def to_string(self) -> str:
        if self.operator == "In":
            return f"{self.key} in ({','.join(self.values)})"
        if self.operator == "NotIn":
            return f"{self.key} notin ({','.join(self.values)})"
        if self.operator == "Exists":
            return self.key
        return f"!{self.key}"


class LabelSelector(ApiModel):
    """``metav1.LabelSelector``."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, alias="matchExpressions"
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: object) -> object:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}
        return data

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            problem = label_key_problem(key) or label_value_problem(value)
            if problem:
                raise InvalidSelector(f"{key}={value}", problem)
        return labels

    def is_empty(self) -> bool:
        """True when the selector puts no constraint (it matches everything)."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def to_string(self) -> str:
        return selector_to_string(self)


def selector_to_string(sel: LabelSelector | None) -> str:
    """The selector as a Kubernetes selector string (``""`` for an empty selector)."""
    if sel is None:
        return ""
    parts = [f"{k}={v}" for k, v in sorted(sel.match_labels.items())]
    parts.extend(req.to_string() for req in sel.match_expressions)
    return ",".join(parts)


# --- parsing -------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<op>==|!=|=|\(|\)|,|!|<|>)|(?P<word>[^\s=!(),<>]+))",
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """Tokens ``(type, value, position)``; type is ``op`` or ``word``."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidSelector(text, f"unexpected character at position {pos}")
        kind = "op" if m.group("op") else "word"
        value = m.group("op") or m.group("word") or ""
        tokens.append((kind, value, m.start(kind)))
        pos = m.end()
    return tokens


def parse_selector(text: str) -> LabelSelector:
    """Parse a Kubernetes selector string into a :class:`LabelSelector`.

    Supported terms (comma-separated, ANDed): ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``,
    ``k notin (a,b)``, ``k``, ``!k``. ``k=v`` goes to ``matchLabels`` (or an ``In`` expression
    if ``k`` is already there); ``k!=v`` is ``NotIn [v]``. An empty string is the empty
    selector. Raises :class:`InvalidSelector` naming the offending text.
    """
    tokens = _tokenize(text)
    match_labels: dict[str, str] = {}
    exprs: list[LabelSelectorRequirement] = []
    i = 0

    def fail(reason: str) -> InvalidSelector:
        return InvalidSelector(text, reason)

    def check_key(key: str) -> None:
        problem = label_key_problem(key)
        if problem:
            raise fail(problem)

    def check_value(value: str) -> None:
        problem = label_value_problem(value)
        if problem:
            raise fail(problem)

    while i < len(tokens):
        kind, value, pos = tokens[i]
        if kind == "op" and value == "!":
            if i + 1 >= len(tokens) or tokens[i + 1][0] != "word":
                raise fail(f"'!' at position {pos} must be followed by a label key")
            key = tokens[i + 1][1]
            check_key(key)
            exprs.append(LabelSelectorRequirement(key=key, operator="DoesNotExist"))
            i += 2
        elif kind == "word":
            key = value
            check_key(key)
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is None or nxt[1] == ",":
                exprs.append(LabelSelectorRequirement(key=key, operator="Exists"))
                i += 1
            elif nxt[0] == "op" and nxt[1] in ("=", "==", "!="):
                after = tokens[i + 2] if i + 2 < len(tokens) else None
                if after is None or after[1] == ",":
                    val = ""
                    i += 2
                elif after[0] == "word":
                    val = after[1]
                    i += 3
                else:
                    raise fail(f"expected a value after {nxt[1]!r} at position {after[2]}")
                check_value(val)
                if nxt[1] == "!=":
                    exprs.append(LabelSelectorRequirement(key=key, operator="NotIn", values=[val]))
                elif key in match_labels:
                    exprs.append(LabelSelectorRequirement(key=key, operator="In", values=[val]))
                else:
                    match_labels[key] = val
            elif nxt[0] == "word" and nxt[1] in ("in", "notin"):
                op: Literal["In", "NotIn"] = "In" if nxt[1] == "in" else "NotIn"
                j = i + 2
                if j >= len(tokens) or tokens[j][1] != "(":
                    raise fail(f"expected '(' after {nxt[1]!r} at position {nxt[2]}")
                j += 1
                # as Kubernetes: an empty item is the value "" ("k in ()" is k in {""})
                values: list[str] = []
                expect_value = True
                while True:
                    if j >= len(tokens):
                        raise fail("missing ')' to close the value set")
                    tkind, tval, tpos = tokens[j]
                    if tval == ")":
                        if expect_value:
                            values.append("")
                        j += 1
                        break
                    if tval == ",":
                        if expect_value:
                            values.append("")
                        expect_value = True
                    elif tkind == "word" and expect_value:
                        check_value(tval)
                        values.append(tval)
                        expect_value = False
                    else:
                        raise fail(f"unexpected {tval!r} at position {tpos} in value set")
                    j += 1
                exprs.append(LabelSelectorRequirement(key=key, operator=op, values=values))
                i = j
            elif nxt[0] == "op" and nxt[1] in ("<", ">"):
                raise fail(f"operator {nxt[1]!r} (Gt/Lt) is not supported in label selectors")
            else:
                raise fail(f"unexpected {nxt[1]!r} at position {nxt[2]} after key {key!r}")
        else:
            raise fail(f"unexpected {value!r} at position {pos}")
        if i < len(tokens):
            if tokens[i][1] != ",":
                raise fail(f"expected ',' at position {tokens[i][2]}, got {tokens[i][1]!r}")
            i += 1
            if i >= len(tokens):
                raise fail("trailing ','")
    return LabelSelector(match_labels=match_labels, match_expressions=exprs)
