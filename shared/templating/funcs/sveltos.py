"""Sveltos template functions: libsveltos' YAML/JSON/TOML extras and the resource helpers.

Two flavours of the resource helpers exist:

* event-manager (``sveltos`` set): they take the object itself (``getResource .Resource``)
  and print YAML with gopkg.in/yaml.v3 (4-space indentation);
* addon-controller (``sveltos-addon`` set): ``getResource``, ``copy``, ``getField``,
  ``setField`` and ``removeField`` take the identifier of a management-cluster resource,
  looked up in the template data's ``MgmtResources``; YAML as sigs.k8s.io/yaml writes it.

BRIEF section 4: every helper works on a copy (Sveltos mutates ``.Resource`` in place).
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import FunctionError, deep_copy, gofunc
from shared.templating.funcs.encoding import (
    ENCODING_FUNCS,
    JSONError,
    go_json_dumps,
    go_json_loads,
    sveltos_from_json,
    sveltos_from_json_array,
    unmarshal_type_error,
)
from shared.templating.funcs.toml_enc import TOMLEncodeError, dump_toml
from shared.templating.funcs.yaml_load import load_v2
from shared.templating.funcs.yamlgo import YAMLError, dump_v2, dump_v3
from shared.templating.gofmt import type_name

__all__ = ["ADDON_FUNCS", "EVENT_MANAGER_FUNCS", "LIBSVELTOS_FUNCS", "sigs_yaml"]

_MAP = "map[string]interface {}"


# ---------------------------------------------------------------------------------------
# libsveltos: toYaml fromYaml fromYamlArray toJson fromJson fromJsonArray toToml fromToml


def sigs_yaml(v: Any) -> str:
    """sigs.k8s.io/yaml Marshal (value -> JSON -> YAML) without the final newline."""
    try:
        data = go_json_loads(go_json_dumps(v))
    except JSONError:
        return ""
    return dump_v2(data).removesuffix("\n")


def v3_yaml(v: Any) -> str:
    return dump_v3(v).removesuffix("\n")


@gofunc("any")
def to_yaml(v: Any) -> str:
    return sigs_yaml(v)


@gofunc("string")
def from_yaml(s: str) -> dict[str, Any]:
    try:
        v = load_v2(s)
    except YAMLError as e:
        return {"Error": str(e)}
    if v is None:
        return {}
    if not isinstance(v, dict):
        msg = unmarshal_type_error(v, _MAP)
        return {"Error": f"error unmarshaling JSON: while decoding JSON: {msg}"}
    return v


@gofunc("string")
def from_yaml_array(s: str) -> list[Any]:
    try:
        v = load_v2(s)
    except YAMLError as e:
        return [str(e)]
    if v is None:
        return []
    if not isinstance(v, list):
        msg = unmarshal_type_error(v, "[]interface {}")
        return [f"error unmarshaling JSON: while decoding JSON: {msg}"]
    return v


@gofunc("any")
def to_toml(v: Any) -> str:
    try:
        return dump_toml(v)
    except TOMLEncodeError as e:
        return str(e)


def _toml_values(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _toml_values(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_toml_values(x) for x in v]
    if isinstance(v, _dt.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=_dt.UTC)
    if isinstance(v, _dt.date | _dt.time) and not isinstance(v, _dt.datetime):
        return v.isoformat()
    return v


@gofunc("string")
def from_toml(s: str) -> dict[str, Any]:
    try:
        return dict(_toml_values(tomllib.loads(s)))
    except tomllib.TOMLDecodeError as e:
        return {"Error": f"toml: {e}"}


LIBSVELTOS_FUNCS: dict[str, Callable[..., Any]] = {
    "toYaml": to_yaml,
    "fromYaml": from_yaml,
    "fromYamlArray": from_yaml_array,
    "toJson": ENCODING_FUNCS["toJson"],
    "fromJson": sveltos_from_json,
    "fromJsonArray": sveltos_from_json_array,
    "toToml": to_toml,
    "fromToml": from_toml,
}


# ---------------------------------------------------------------------------------------
# unstructured helpers (k8s.io/apimachinery semantics, on copies)


def _reset_fields(u: dict[str, Any]) -> dict[str, Any]:
    meta = u.get("metadata")
    if isinstance(meta, dict):
        for f in ("managedFields", "resourceVersion", "uid"):
            meta.pop(f, None)
    return u


def _json_path(fields: list[str]) -> str:
    return "." + ".".join(fields)


def _check_json_value(v: Any) -> None:
    """runtime.DeepCopyJSONValue accepts JSON values only (an ``int`` literal is not one)."""
    if v is None or isinstance(v, bool | str | float):
        return
    if isinstance(v, int):
        name = type_name(v)
        if name != "int64":
            raise FunctionError(f"cannot deep copy {name}")
        return
    if isinstance(v, dict):
        for x in v.values():
            _check_json_value(x)
        return
    if isinstance(v, list):
        for x in v:
            _check_json_value(x)
        return
    raise FunctionError(f"cannot deep copy {type_name(v)}")


def _set_nested(u: dict[str, Any], value: Any, fields: list[str]) -> bool:
    _check_json_value(value)
    m = u
    for f in fields[:-1]:
        if f in m:
            nxt = m[f]
            if not isinstance(nxt, dict):
                return False  # "value cannot be set because ... is not a map"
            m = nxt
        else:
            new: dict[str, Any] = {}
            m[f] = new
            m = new
    m[fields[-1]] = deep_copy(value)
    return True


def _remove_nested(u: dict[str, Any], fields: list[str]) -> None:
    m = u
    for f in fields[:-1]:
        nxt = m.get(f)
        if not isinstance(nxt, dict):
            return
        m = nxt
    m.pop(fields[-1], None)


def _nested_field(u: dict[str, Any], fields: list[str]) -> Any:
    val: Any = u
    for f in fields:
        if val is None:
            return ""
        if not isinstance(val, dict):
            return ""  # accessor error, swallowed
        if f not in val:
            return ""
        val = val[f]
    return deep_copy(val)


def _need_map(u: Any) -> dict[str, Any]:
    if not isinstance(u, dict):
        raise FunctionError(
            f"wrong type for value; expected {_MAP}; got "
            + ("interface {}" if u is None else type_name(u))
        )
    return u


# event-manager flavour ------------------------------------------------------------------


@gofunc("any")
def get_resource(u: Any) -> dict[str, Any]:
    return _reset_fields(deep_copy(_need_map(u)))


@gofunc("any")
def copy_(u: Any) -> str:
    return v3_yaml(_reset_fields(deep_copy(_need_map(u))))


@gofunc("any", "string")
def get_field(u: Any, fields: str) -> Any:
    return _nested_field(_need_map(u), fields.split("."))


@gofunc("any", "string")
def remove_field(u: Any, fields: str) -> str:
    c = deep_copy(_need_map(u))
    _remove_nested(c, fields.split("."))
    return v3_yaml(_reset_fields(c))


@gofunc("any", "string", "any")
def set_field(u: Any, fields: str, value: Any) -> str:
    c = deep_copy(_need_map(u))
    if not _set_nested(c, value, fields.split(".")):
        return ""
    return v3_yaml(_reset_fields(c))


@gofunc("any", "string")
def chain_remove_field(u: Any, fields: str) -> dict[str, Any]:
    c: dict[str, Any] = deep_copy(_need_map(u))
    _remove_nested(c, fields.split("."))
    return c


@gofunc("any", "string", "any")
def chain_set_field(u: Any, fields: str, value: Any) -> dict[str, Any] | None:
    c: dict[str, Any] = deep_copy(_need_map(u))
    if not _set_nested(c, value, fields.split(".")):
        return None
    return c


EVENT_MANAGER_FUNCS: dict[str, Callable[..., Any]] = {
    "getResource": get_resource,
    "copy": copy_,
    "getField": get_field,
    "setField": set_field,
    "removeField": remove_field,
    "chainSetField": chain_set_field,
    "chainRemoveField": chain_remove_field,
}


# addon-controller flavour ---------------------------------------------------------------


def _root_data(ctx: Any) -> Any:
    root = getattr(ctx, "root_data", None)
    if root is None:
        st = getattr(ctx, "st", None)
        variables = getattr(st, "vars", None)
        if variables:
            root = variables[0][1]
    return root


def _mgmt_resource(ctx: Any, ident: Any) -> dict[str, Any] | None:
    if not isinstance(ident, str):
        raise FunctionError(f"wrong type for value; expected string; got {type_name(ident)}")
    root = _root_data(ctx)
    resources = root.get("MgmtResources") if isinstance(root, dict) else None
    if not isinstance(resources, dict):
        return None
    u = resources.get(ident)
    return deep_copy(u) if isinstance(u, dict) else None


def _ctx_fn(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn.needs_context = True  # type: ignore[attr-defined]
    return fn


@_ctx_fn
def addon_get_resource(ctx: Any, ident: Any) -> dict[str, Any] | None:
    u = _mgmt_resource(ctx, ident)
    return None if u is None else _reset_fields(u)


@_ctx_fn
def addon_copy(ctx: Any, ident: Any) -> str:
    u = _mgmt_resource(ctx, ident)
    return "" if u is None else sigs_yaml(_reset_fields(u))


@_ctx_fn
def addon_get_field(ctx: Any, ident: Any, fields: Any) -> Any:
    u = _mgmt_resource(ctx, ident)
    if u is None:
        return ""
    return _nested_field(u, str(fields).split("."))


@_ctx_fn
def addon_remove_field(ctx: Any, ident: Any, fields: Any) -> str:
    u = _mgmt_resource(ctx, ident)
    if u is None:
        return ""
    _remove_nested(u, str(fields).split("."))
    return sigs_yaml(_reset_fields(u))


@_ctx_fn
def addon_set_field(ctx: Any, ident: Any, fields: Any, value: Any) -> str:
    u = _mgmt_resource(ctx, ident)
    if u is None:
        return ""
    if not _set_nested(u, value, str(fields).split(".")):
        return ""
    return sigs_yaml(_reset_fields(u))


ADDON_FUNCS: dict[str, Callable[..., Any]] = {
    "getResource": addon_get_resource,
    "copy": addon_copy,
    "getField": addon_get_field,
    "setField": addon_set_field,
    "removeField": addon_remove_field,
    "chainSetField": chain_set_field,
    "chainRemoveField": chain_remove_field,
}
