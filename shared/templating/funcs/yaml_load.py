"""Reading YAML as sigs.k8s.io/yaml does: goyaml.v2 (YAML 1.1 scalars), then JSON."""

from __future__ import annotations

import math
from typing import Any

import yaml

from shared.api.yamlio import YamlTooLarge, load_bounded
from shared.templating.budget import BudgetExceeded
from shared.templating.funcs.yamlgo import YAMLError, _Merge, _Timestamp, resolve_plain
from shared.templating.gofmt import format_float

__all__ = ["YAMLError", "load_v2"]


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {}


def _construct_scalar(loader: _Loader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    if node.style is None or node.style == "":
        r = resolve_plain(str(value), 2)
        if isinstance(r, _Timestamp):
            return str(r)
        if isinstance(r, _Merge):
            return "<<"
        return r
    return str(value)


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_scalar)


def _key_string(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, float):
        return format_float(k, "g", -1)
    if k is None:
        return "null"
    if isinstance(k, dict | list):
        raise YAMLError("error converting YAML to JSON: yaml: invalid map key")
    return str(k)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k_node, v_node in node.value:
        key = _key_string(loader.construct_object(k_node, deep=True))
        out[key] = loader.construct_object(v_node, deep=True)
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


_MAX_NODES = 1_000_000


def _jsonify(v: Any, budget: list[int] | None = None) -> Any:
    """The YAML-to-JSON step: keys become strings; NaN/Inf cannot be represented.

    Aliases are expanded into copies, as Go does; ``budget`` bounds the expansion
    (a "billion laughs" document fails instead of exhausting memory).
    """
    if budget is None:
        budget = [_MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise YAMLError("error converting YAML to JSON: yaml: document is too large")
    if isinstance(v, dict):
        out: dict[str, Any] = {}
        for k, x in v.items():
            if isinstance(k, bool):
                ks = "true" if k else "false"
            elif isinstance(k, float):
                ks = format_float(k, "g", -1)
            elif k is None:
                ks = "null"
            else:
                ks = str(k)
            out[ks] = _jsonify(x, budget)
        return out
    if isinstance(v, list):
        return [_jsonify(x, budget) for x in v]
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        raise YAMLError(
            f"error converting YAML to JSON: json: unsupported value: {format_float(v)}"
        )
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def load_v2(text: str) -> Any:
    """Decode the first YAML document as sigs.k8s.io/yaml does (YAML 1.1 booleans).

    The document is bounded (:func:`shared.api.yamlio.load_bounded`: nodes with aliases
    expanded, bytes, depth): past a bound the render stops
    (:class:`~shared.templating.budget.BudgetExceeded`), it is not an ``Error`` value."""
    try:
        docs = load_bounded(text, _Loader, first=True)
        first = docs[0] if docs else None
    except YamlTooLarge as e:
        raise BudgetExceeded(f"YAML refused: {e}", kind="size") from None
    except yaml.MarkedYAMLError as e:
        line = (e.problem_mark.line + 1) if e.problem_mark else 0
        raise YAMLError(
            f"error converting YAML to JSON: yaml: line {line}: {e.problem or e.context}"
        ) from None
    except yaml.YAMLError as e:
        raise YAMLError(f"error converting YAML to JSON: yaml: {e}") from None
    except RecursionError:
        raise YAMLError("error converting YAML to JSON: yaml: exceeded max depth") from None
    return _jsonify(first)
