"""sprig dict functions (dict.go) and deepCopy/deepEqual."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import (
    FunctionError,
    GoStringSlice,
    deep_copy,
    deep_equal,
    gofunc,
    is_empty,
    strval,
)
from shared.templating.gofmt import type_name

__all__ = ["DICT_FUNCS"]

_MAP = "map[string]interface {}"


@gofunc("...any")
def dict_(*kv: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(kv), 2):
        key = strval(kv[i])
        out[key] = kv[i + 1] if i + 1 < len(kv) else ""
    return out


@gofunc(_MAP, "string")
def get(d: dict[str, Any] | None, key: str) -> Any:
    if d is not None and key in d:
        return d[key]
    return ""


@gofunc(_MAP, "string", "any")
def set_(d: dict[str, Any] | None, key: str, value: Any) -> dict[str, Any]:
    if d is None:
        raise FunctionError("assignment to entry in nil map")
    d[key] = value
    return d


@gofunc(_MAP, "string")
def unset(d: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if d is not None:
        d.pop(key, None)
    return d


@gofunc(_MAP, "string")
def has_key(d: dict[str, Any] | None, key: str) -> bool:
    return d is not None and key in d


@gofunc("string", f"...{_MAP}")
def pluck(name: str, *dicts: dict[str, Any] | None) -> list[Any]:
    return [d[name] for d in dicts if d is not None and name in d]


@gofunc(f"...{_MAP}")
def keys(*dicts: dict[str, Any] | None) -> list[Any]:
    out: list[Any] = GoStringSlice()
    for d in dicts:
        if d is not None:
            out.extend(sorted(d))
    return out


@gofunc(_MAP, "...string")
def pick(d: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    d = d or {}
    return {k: d[k] for k in names if k in d}


@gofunc(_MAP, "...string")
def omit(d: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    d = d or {}
    drop = set(names)
    return {k: v for k, v in d.items() if k not in drop}


@gofunc(_MAP)
def values(d: dict[str, Any] | None) -> list[Any]:
    d = d or {}
    return [d[k] for k in sorted(d)]


def _merge_into(dst: dict[str, Any], src: dict[str, Any], overwrite: bool) -> None:
    """mergo.Merge on map[string]interface{}: values are shared, not copied.

    Nested maps merge; otherwise a key is filled when missing or empty in ``dst`` and,
    with ``overwrite``, replaced by any source value (even an empty one, as sprig's
    mergeOverwrite documents). A nil source value is only copied when overwriting.
    """
    for k, sv in src.items():
        dv = dst.get(k)
        if sv is None:
            if overwrite:
                dst[k] = None
            continue
        if isinstance(sv, dict) and isinstance(dv, dict):
            _merge_into(dv, sv, overwrite)
            continue
        if overwrite or k not in dst or is_empty(dv):
            dst[k] = sv


def _merge(overwrite: bool) -> Callable[..., Any]:
    @gofunc(_MAP, f"...{_MAP}")
    def merge(dst: dict[str, Any] | None, *srcs: dict[str, Any] | None) -> Any:
        if dst is None:
            dst = {}
        for src in srcs:
            if src is not None:
                _merge_into(dst, src, overwrite)
        return dst

    return merge


@gofunc("...any")
def dig(*ps: Any) -> Any:
    if len(ps) < 3:
        raise FunctionError("dig needs at least three arguments")
    d = ps[-1]
    default = ps[-2]
    path = ps[:-2]
    for p in path:
        if not isinstance(p, str):
            raise FunctionError(
                f"interface conversion: interface {{}} is {type_name(p)}, not string"
            )
    for i, k in enumerate(path):
        if not isinstance(d, dict):
            raise FunctionError(
                f"interface conversion: interface {{}} is {type_name(d)}, not {_MAP}"
            )
        if k not in d:
            return default
        d = d[k]
        if i == len(path) - 1:
            return d
    return default


@gofunc("any")
def deep_copy_f(v: Any) -> Any:
    if v is None:
        raise FunctionError("reflect: call of reflect.Value.Type on zero Value")
    return deep_copy(v)


@gofunc("any", "any")
def deep_equal_f(a: Any, b: Any) -> bool:
    return deep_equal(a, b)


DICT_FUNCS: dict[str, Callable[..., Any]] = {
    "dict": dict_,
    "get": get,
    "set": set_,
    "unset": unset,
    "hasKey": has_key,
    "pluck": pluck,
    "keys": keys,
    "pick": pick,
    "omit": omit,
    "merge": _merge(False),
    "mustMerge": _merge(False),
    "mergeOverwrite": _merge(True),
    "mustMergeOverwrite": _merge(True),
    "values": values,
    "dig": dig,
    "deepCopy": deep_copy_f,
    "mustDeepCopy": deep_copy_f,
    "deepEqual": deep_equal_f,
}
