"""Subset comparison of an expected object with a live one (pure).

Rules (``../shared/scenarios/README.md``):

- every field of the expected object must be present in the live object with an equal value;
  the live object may have more fields (mappings compare as subsets, recursively);
- lists compare element by element, in order, and must have the same length (each element
  compares by the same rules, so a mapping element is a subset of the live element);
- scalars compare by value and type family (``80`` equals ``80.0``; ``"80"`` does not equal
  ``80``; booleans only equal booleans);
- every deployed object must carry the annotation ``projectsveltos.io/hash``
  (:func:`check_deployed` adds that rule to :func:`diff`), except the objects of a Helm
  release: Helm annotates what it installs with ``meta.helm.sh/release-name``, and Sveltos
  does not hash them either.

:func:`diff` returns :class:`Difference` records whose ``str()`` names the field path, e.g.
``spec.ingress[0].ports[0].port: expected 443, got 80`` or
``metadata.labels["projectsveltos.io/reference-kind"]: missing``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from shared.api.vocabulary import HASH_ANNOTATION as HASH_ANNOTATION

#: the annotation Helm puts on every object of a release
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """One field that does not hold: ``path`` (``spec.ports[0].port``), what was expected, what
    the live object has (``None`` with ``missing=True`` when the field is absent)."""

    path: str
    expected: Any
    actual: Any = None
    missing: bool = False
    note: str = ""

    def __str__(self) -> str:
        where = self.path or "(object)"
        if self.note:
            return f"{where}: {self.note}"
        if self.missing:
            return f"{where}: missing (expected {_show(self.expected)})"
        return f"{where}: expected {_show(self.expected)}, got {_show(self.actual)}"


def _show(value: Any, limit: int = 120) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _join(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _scalar_equal(expected: Any, actual: Any) -> bool:
    return _kind(expected) == _kind(actual) and expected == actual


def diff(expected: Any, actual: Any, path: str = "") -> list[Difference]:
    """Every way in which ``actual`` fails to contain ``expected`` (empty: it holds)."""
    out: list[Difference] = []
    _diff(expected, actual, path, out)
    return out


def _diff(expected: Any, actual: Any, path: str, out: list[Difference]) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(
                Difference(
                    path,
                    expected,
                    actual,
                    note=f"expected a mapping, got {_kind(actual)} {_show(actual)}",
                )
            )
            return
        for key, value in expected.items():
            sub = _join(path, str(key))
            if key not in actual:
                out.append(Difference(sub, value, missing=True))
            else:
                _diff(value, actual[key], sub, out)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            out.append(
                Difference(
                    path,
                    expected,
                    actual,
                    note=f"expected a list, got {_kind(actual)} {_show(actual)}",
                )
            )
            return
        if len(expected) != len(actual):
            out.append(
                Difference(
                    path,
                    expected,
                    actual,
                    note=f"expected {len(expected)} element(s), got {len(actual)}: {_show(actual)}",
                )
            )
        for i, (want, have) in enumerate(zip(expected, actual, strict=False)):
            _diff(want, have, f"{path}[{i}]", out)
        return
    if not _scalar_equal(expected, actual):
        out.append(Difference(path, expected, actual))


def check_deployed(expected: dict[str, Any], live: dict[str, Any]) -> list[Difference]:
    """:func:`diff` plus the rule that a deployed object carries ``projectsveltos.io/hash``
    (unless Helm installed it: annotation ``meta.helm.sh/release-name``)."""
    out = diff(expected, live)
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if not annotations.get(HASH_ANNOTATION) and not annotations.get(HELM_RELEASE_ANNOTATION):
        out.append(
            Difference(
                _join("metadata.annotations", HASH_ANNOTATION),
                "sha256:...",
                missing=True,
                note="missing: every deployed object must carry this annotation "
                "(was the object created by Ripple?)",
            )
        )
    return out
