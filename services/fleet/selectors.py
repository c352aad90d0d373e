"""Label and field selectors as the kube-apiserver parses them from query strings."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from services.fleet.errors import ApiError

Matcher = Callable[[dict[str, Any]], bool]

_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


LabelTest = Callable[[dict[str, str]], bool]


def _in(k: str, vs: frozenset[str]) -> LabelTest:
    return lambda lb: lb.get(k) in vs


def _notin(k: str, vs: frozenset[str]) -> LabelTest:
    return lambda lb: lb.get(k) not in vs


def _absent(k: str) -> LabelTest:
    return lambda lb: k not in lb


def _present(k: str) -> LabelTest:
    return lambda lb: k in lb


def _eq(k: str, v: str) -> LabelTest:
    return lambda lb: lb.get(k) == v


def _ne(k: str, v: str) -> LabelTest:
    return lambda lb: lb.get(k) != v


def _lt(k: str, n: int) -> LabelTest:
    return lambda lb: _int(lb.get(k)) < n


def _gt(k: str, n: int) -> LabelTest:
    return lambda lb: _int(lb.get(k)) > n


def _field_eq(p: str, v: str) -> Matcher:
    return lambda o: _field(o, p) == v


def _field_ne(p: str, v: str) -> Matcher:
    return lambda o: _field(o, p) != v


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _bad(selector: str, why: str) -> ApiError:
    return ApiError.bad_request(f"unable to parse requirement: {why}")


def _check_key(key: str, selector: str) -> str:
    if not _KEY.match(key) or len(key.rpartition("/")[2]) > 63:
        raise _bad(
            selector,
            f'invalid label key "{key}": name part must consist of '
            "alphanumeric characters, '-', '_' or '.'",
        )
    return key


def _check_value(value: str, selector: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise _bad(selector, f'invalid label value: "{value}"')
    return value


_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_OP = re.compile(r"^([^!=<>\s]+)\s*(==|=|!=|<|>)\s*(.*)$")


def parse_label_selector(selector: str | None) -> Matcher | None:
    """Compile ``a=b,c!=d,e in (x,y),f notin (z),g,!h,i>3`` into a predicate on labels."""
    if not selector or not selector.strip():
        return None
    tests: list[LabelTest] = []
    for req in _split_top(selector):
        if not req:
            raise _bad(selector, "empty requirement")
        m = _SET.match(req)
        if m:
            key = _check_key(m.group(1), selector)
            values = frozenset(_check_value(v.strip(), selector) for v in m.group(3).split(","))
            if m.group(2) == "in":
                tests.append(_in(key, values))
            else:
                tests.append(_notin(key, values))
            continue
        if req.startswith("!"):
            key = _check_key(req[1:].strip(), selector)
            tests.append(_absent(key))
            continue
        m = _OP.match(req)
        if m:
            key = _check_key(m.group(1), selector)
            op, value = m.group(2), m.group(3).strip()
            if op in ("<", ">"):
                try:
                    num = int(value)
                except ValueError:
                    raise _bad(
                        selector, f"for 'Gt', 'Lt' operators, the value must be an integer: {value}"
                    ) from None
                if op == "<":
                    tests.append(_lt(key, num))
                else:
                    tests.append(_gt(key, num))
                continue
            value = _check_value(value, selector)
            if op == "!=":
                tests.append(_ne(key, value))
            else:
                tests.append(_eq(key, value))
            continue
        key = _check_key(req, selector)
        tests.append(_present(key))

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(t(labels) for t in tests)

    return match


def _int(value: str | None) -> float:
    if value is None:
        return float("nan")
    try:
        return int(value)
    except ValueError:
        return float("nan")


def _field(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(selector: str | None) -> tuple[Matcher | None, str | None]:
    """Compile ``metadata.name=x,metadata.namespace!=y``; also returns a pinned name if any."""
    if not selector or not selector.strip():
        return None, None
    tests: list[Callable[[dict[str, Any]], bool]] = []
    name: str | None = None
    for req in selector.split(","):
        req = req.strip()
        if not req:
            continue
        if "!=" in req:
            path, _, value = req.partition("!=")
            neg = True
        elif "==" in req:
            path, _, value = req.partition("==")
            neg = False
        elif "=" in req:
            path, _, value = req.partition("=")
            neg = False
        else:
            raise ApiError.bad_request(f"invalid selector: '{selector}'; can't understand '{req}'")
        path, value = path.strip(), value.strip()
        if not path:
            raise ApiError.bad_request(f"invalid field selector: '{selector}'")
        if path == "metadata.name" and not neg:
            name = value
        if neg:
            tests.append(_field_ne(path, value))
        else:
            tests.append(_field_eq(path, value))

    def match(obj: dict[str, Any]) -> bool:
        return all(t(obj) for t in tests)

    return match, name
