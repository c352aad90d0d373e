"""sprig semver functions (Masterminds/semver v3): ``semver`` and ``semverCompare``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from shared.templating.funcs._base import FunctionError, gofunc
from shared.templating.values import GoStruct

__all__ = ["SEMVER_FUNCS", "Version", "check_constraint", "parse_version"]

_VERSION_RE = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
)
_INVALID = "invalid semantic version"


class Version(GoStruct):
    """A ``*semver.Version``; its Go methods read as fields (``.Major``, ``.Prerelease``)."""

    __slots__ = ("major", "metadata", "minor", "original", "patch", "pre")

    def __init__(
        self, major: int, minor: int, patch: int, pre: str, metadata: str, original: str
    ) -> None:
        super().__init__("*semver.Version", [])
        self.major, self.minor, self.patch = major, minor, patch
        self.pre, self.metadata, self.original = pre, metadata, original

    # GoStruct protocol: zero-argument methods behave as fields
    def _methods(self) -> dict[str, Any]:
        return {
            "Major": self.major,
            "Minor": self.minor,
            "Patch": self.patch,
            "Prerelease": self.pre,
            "Metadata": self.metadata,
            "Original": self.original,
            "String": self.go_string(),
        }

    def has_field(self, name: str) -> bool:
        return name in self._methods() or name in self.go_methods()

    def field(self, name: str) -> Any:
        m = self._methods()
        if name in m:
            return m[name]
        return self.go_methods()[name]

    def go_fields(self) -> Iterator[tuple[str, Any]]:
        return iter(self._methods().items())

    def go_methods(self) -> dict[str, Callable[..., Any]]:
        """Methods taking arguments, for an engine that can call them."""
        return {
            "Compare": lambda o: self.compare(_as_version(o)),
            "LessThan": lambda o: self.compare(_as_version(o)) < 0,
            "GreaterThan": lambda o: self.compare(_as_version(o)) > 0,
            "Equal": lambda o: self.compare(_as_version(o)) == 0,
        }

    def go_string(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            s += "-" + self.pre
        if self.metadata:
            s += "+" + self.metadata
        return s

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.compare(other) == 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.pre))

    def compare(self, o: Version) -> int:
        a = (self.major, self.minor, self.patch)
        b = (o.major, o.minor, o.patch)
        if a != b:
            return -1 if a < b else 1
        return _compare_pre(self.pre, o.pre)


def _as_version(o: Any) -> Version:
    if isinstance(o, Version):
        return o
    if isinstance(o, str):
        return parse_version(o)
    raise FunctionError("wrong type for value; expected *semver.Version")


def _compare_pre(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a:
        return 1
    if not b:
        return -1
    pa, pb = a.split("."), b.split(".")
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:
            return -1 if int(x) < int(y) else 1
        if xd:
            return -1
        if yd:
            return 1
        return -1 if x < y else 1
    if len(pa) == len(pb):
        return 0
    return -1 if len(pa) < len(pb) else 1


def parse_version(s: str) -> Version:
    m = _VERSION_RE.match(s)
    if not m:
        raise FunctionError(_INVALID)
    major = int(m.group(1))
    minor = int(m.group(2)[1:]) if m.group(2) else 0
    patch = int(m.group(3)[1:]) if m.group(3) else 0
    return Version(major, minor, patch, m.group(5) or "", m.group(8) or "", s)


# ---------------------------------------------------------------------------------------
# constraints

_CONSTRAINT_RE = re.compile(
    r"^\s*(=>|=<|>=|<=|!=|~>|=|>|<|~|\^)?\s*"
    r"v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?\s*$"
)


class _Constraint:
    def __init__(self, text: str) -> None:
        m = _CONSTRAINT_RE.match(text)
        if not m:
            raise FunctionError(f"improper constraint: {text}")
        op = m.group(1) or ""
        self.op = {"=>": ">=", "=<": "<=", "~>": "~"}.get(op, op)
        parts = [m.group(2), (m.group(3) or "")[1:], (m.group(4) or "")[1:]]

        def wild(p: str) -> bool:
            return p in ("x", "X", "*")

        self.major_dirty = wild(parts[0])
        self.minor_dirty = self.major_dirty or parts[1] == "" or wild(parts[1])
        self.patch_dirty = self.minor_dirty or parts[2] == "" or wild(parts[2])
        self.dirty = self.patch_dirty
        nums = [0 if (p == "" or wild(p)) else int(p) for p in parts]
        self.con = Version(nums[0], nums[1], nums[2], m.group(6) or "", m.group(9) or "", text)

    def check(self, v: Version) -> bool:
        c = self.con
        if self.op != "!=" and v.pre and not c.pre:
            return False
        if self.major_dirty and self.op in ("", "=", "~", "^", ">=", "<="):
            return True
        cmp = v.compare(c)
        if self.op in ("", "="):
            return self._tilde(v) if self.dirty else cmp == 0
        if self.op == "!=":
            if self.dirty:
                if c.major != v.major:
                    return True
                if self.minor_dirty:
                    return False
                return c.minor != v.minor
            return cmp != 0
        if self.op == ">":
            if not self.dirty:
                return cmp > 0
            if v.major != c.major:
                return v.major > c.major
            if self.minor_dirty:
                return False
            return v.minor > c.minor
        if self.op == "<":
            return cmp < 0
        if self.op == ">=":
            return cmp >= 0
        if self.op == "<=":
            if not self.dirty:
                return cmp <= 0
            if v.major != c.major:
                return v.major < c.major
            if self.minor_dirty:
                return True
            return v.minor <= c.minor
        if self.op == "~":
            return self._tilde(v)
        # caret
        if cmp < 0:
            return False
        if c.major > 0 or self.minor_dirty:
            return v.major == c.major
        if c.minor > 0 or self.patch_dirty:
            return v.major == 0 and v.minor == c.minor
        return v.major == 0 and v.minor == 0 and v.patch == c.patch

    def _tilde(self, v: Version) -> bool:
        c = self.con
        if v.compare(c) < 0:
            return False
        if v.major != c.major:
            return False
        return not (v.minor != c.minor and not self.minor_dirty)


_TOKEN_RE = re.compile(
    r"(?:=>|=<|>=|<=|!=|~>|=|>|<|~|\^)?\s*v?[0-9xX*]+(?:\.[0-9xX*]+){0,2}"
    r"(?:-[0-9A-Za-z.\-]+)?(?:\+[0-9A-Za-z.\-]+)?"
)


def check_constraint(constraint: str, v: Version) -> bool:
    for group in constraint.split("||"):
        g = group.strip()
        hy = re.match(r"^\s*(\S+)\s+-\s+(\S+)\s*$", g)
        texts: list[str]
        if hy:
            texts = [">=" + hy.group(1), "<=" + hy.group(2)]
        else:
            texts = _TOKEN_RE.findall(g)
            if _TOKEN_RE.sub("", g).replace(",", "").strip():
                raise FunctionError(f"improper constraint: {constraint}")
        if not texts:
            raise FunctionError(f"improper constraint: {constraint}")
        cons = [_Constraint(t) for t in texts]
        if all(c.check(v) for c in cons):
            return True
    return False


@gofunc("string")
def semver(s: str) -> Version:
    return parse_version(s)


@gofunc("string", "string")
def semver_compare(constraint: str, version: str) -> bool:
    # constraint errors are reported first, as NewConstraint runs first
    for group in constraint.split("||"):
        if not group.strip():
            raise FunctionError(f"improper constraint: {constraint}")
    v = parse_version(version)
    return check_constraint(constraint, v)


SEMVER_FUNCS: dict[str, Callable[..., Any]] = {
    "semver": semver,
    "semverCompare": semver_compare,
}
