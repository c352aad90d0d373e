"""Turning pydantic validation errors into short, human reasons with field paths.

:func:`describe_errors` gives ``(path, raw_path, reason)`` per problem: ``path`` in Kubernetes
spelling (``spec.resourceSelectors[0].labelFilters[1].operation``) following the user's own
input (the v1alpha1 flat form, ``script``, ``labelsFilters``), ``raw_path`` the same as a list
for :func:`yaml_position_of`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from shared.api.errors import DefinitionError

#: loc entries pydantic adds for union members / validators; never field names here
_TAG_PREFIXES = ("function-", "tagged-union", "union[", "json-or-python", "lax-or-strict")
_TYPE_TAGS = {
    "str", "int", "float", "bool", "list", "dict", "none", "bytes", "literal",
    "is-instance", "model", "nullable", "default",
}  # fmt: skip

#: raw spellings accepted for a normalised key (first found in the input wins)
_ALTERNATIVES = {"evaluate": ("script",), "labelFilters": ("labelsFilters",)}


def _is_tag(part: object) -> bool:
    if not isinstance(part, str):
        return False
    if part in _TYPE_TAGS or part.startswith(_TAG_PREFIXES):
        return True
    return "[" in part and part.endswith("]")


def _raw_path(data: Any, loc: list[str | int]) -> list[str | int]:
    """Map a model loc onto the user's input (flat EventSource spec, legacy spellings)."""
    out: list[str | int] = []
    current = data
    i = 0
    while i < len(loc):
        part = loc[i]
        if isinstance(current, dict) and isinstance(part, str):
            if part in current:
                key: str = part
            else:
                key = next((a for a in _ALTERNATIVES.get(part, ()) if a in current), part)
                if (
                    part == "resourceSelectors"
                    and "resourceSelectors" not in current
                    and any(k in current for k in ("kind", "version", "group", "script"))
                    and i + 1 < len(loc)
                    and loc[i + 1] == 0
                ):
                    # v1alpha1 flat form: the single selector IS the spec
                    i += 2
                    continue
            out.append(key)
            current = current.get(key)
        elif isinstance(current, list) and isinstance(part, int):
            out.append(part)
            current = current[part] if 0 <= part < len(current) else None
        else:
            out.append(part)
            current = None
        i += 1
    return out


def format_path(path: list[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def _unwrap(annotation: Any) -> list[Any]:
    """The candidate classes/containers behind an annotation (Optional/Union flattened)."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for cand in _unwrap(annotation):
        origin = typing.get_origin(cand)
        if isinstance(part, int) and origin is list:
            return typing.get_args(cand)[0]
        if isinstance(part, str):
            if origin is dict:
                return typing.get_args(cand)[1]
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                for name, info in cand.model_fields.items():
                    if part in (name, info.alias):
                        return info.annotation
    return None


def known_fields(model: type[BaseModel] | None, loc: list[str | int]) -> list[str]:
    """The field names (aliases) allowed at ``loc`` (the parent of an unknown field)."""
    annotation: Any = model
    for part in loc:
        if annotation is None:
            return []
        annotation = _step(annotation, part)
    for cand in _unwrap(annotation):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return [info.alias or name for name, info in cand.model_fields.items()]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(err: dict[str, Any], model: type[BaseModel] | None, loc: list[str | int]) -> str:
    etype = err.get("type", "")
    msg = str(err.get("msg", ""))
    value = err.get("input")
    if etype == "missing":
        return "required field is missing"
    if etype == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = known_fields(model, loc[:-1])
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            return f"unknown field (did you mean {close[0]!r}?)"
        if allowed:
            return f"unknown field (allowed: {', '.join(allowed)})"
        return "unknown field"
    if etype == "literal_error":
        expected = msg.removeprefix("Input should be ")
        return f"must be {expected}, got {_short(value)}"
    if etype in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if etype == "string_too_short":
        return "must not be empty"
    text = _polish(msg) if msg else etype
    if "got" in text or "input" not in err:
        return text
    return f"{text}, got {_short(value)}"


_REPLACEMENTS = (
    (re.compile(r"a valid dictionary or instance of \w+"), "an object (a mapping)"),
    (re.compile(r"a valid dictionary"), "an object (a mapping)"),
    (re.compile(r"^Input should be "), "must be "),
    (re.compile(r"^Input "), "value "),
)


def _polish(msg: str) -> str:
    for pattern, replacement in _REPLACEMENTS:
        msg = pattern.sub(replacement, msg)
    return msg[0].lower() + msg[1:] if msg else msg


def describe_errors(
    exc: ValidationError, model: type[BaseModel] | None = None, data: Any = None
) -> list[tuple[str, list[str | int], str]]:
    """``(path, raw_path, reason)`` per distinct problem, in order."""
    out: list[tuple[str, list[str | int], str]] = []
    by_path: dict[str, int] = {}
    for err in exc.errors(include_url=False):
        loc: list[str | int] = [p for p in err["loc"] if not _is_tag(p)]
        reason = _reason(dict(err), model, loc)
        raw = _raw_path(data, loc) if data is not None else loc
        path = format_path(raw)
        if path in by_path:
            # several union members failed at the same place: merge their reasons
            i = by_path[path]
            p, r, prev = out[i]
            if reason not in prev:
                out[i] = (p, r, f"{prev}; or {reason}")
            continue
        by_path[path] = len(out)
        out.append((path, raw, reason))
    return out


def yaml_line_of(node: yaml.Node | None, path: list[str | int] | list[str]) -> int | None:
    """The 1-based line of the deepest node along ``path`` (a key's line for mappings)."""
    return yaml_position_of(node, path)[0]


def yaml_position_of(
    node: yaml.Node | None, path: list[str | int] | list[str]
) -> tuple[int | None, int | None]:
    """1-based (line, column) of the deepest node along ``path``; the root's line if none."""
    if node is None:
        return None, None
    line = node.start_mark.line + 1
    column: int | None = None
    current: yaml.Node | None = node
    for part in path:
        if current is None or part == "":
            break
        if isinstance(current, yaml.MappingNode):
            nxt = None
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    column = key_node.start_mark.column + 1
                    nxt = value_node
                    break
            current = nxt
        elif isinstance(current, yaml.SequenceNode):
            try:
                idx = int(part)
            except (TypeError, ValueError):
                break
            if 0 <= idx < len(current.value):
                current = current.value[idx]
                line = current.start_mark.line + 1
                column = current.start_mark.column + 1
            else:
                break
        else:
            break
    return line, column


def validation_error_to_definition_errors(
    exc: ValidationError,
    *,
    source: str,
    model: type[BaseModel] | None = None,
    data: Any = None,
    kind: str = "",
    name: str = "",
    index: int | None = None,
) -> list[DefinitionError]:
    """Convert a pydantic ValidationError into DefinitionErrors with field paths."""
    return [
        DefinitionError(reason, source=source, kind=kind, name=name, index=index, field=path)
        for path, _raw, reason in describe_errors(exc, model, data)
    ]


def yaml_node_at(node: yaml.Node | None, path: Sequence[str | int]) -> yaml.Node | None:
    """The value node at ``path`` (mapping keys, sequence indices), or None if absent."""
    current = node
    for part in path:
        if isinstance(current, yaml.MappingNode):
            current = next(
                (
                    value
                    for key, value in current.value
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part)
                ),
                None,
            )
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            current = current.value[part] if 0 <= part < len(current.value) else None
        else:
            return None
    return current


def yaml_line_inside(
    node: yaml.Node | None, path: Sequence[str | int], inner: int | None
) -> int | None:
    """The 1-based file line of line ``inner`` (1-based) of the string at ``path``: for a
    block scalar (``|``, ``>``) the line below the indicator plus ``inner - 1``; for any
    other scalar (a quoted ``\n`` is no line of the file) the line it starts on. Without
    ``inner``, the line of the field's key."""
    line = yaml_position_of(node, list(path))[0]
    value = yaml_node_at(node, path)
    if inner is None or not isinstance(value, yaml.ScalarNode):
        return line
    start = value.start_mark.line + 1
    if value.style in ("|", ">"):
        return start + inner
    return start
