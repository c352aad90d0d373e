"""Patch formats: JSON merge patch (RFC 7386), strategic merge patch, JSON patch (RFC 6902).

Strategic merge follows the kube-apiserver for the built-in kinds: lists of objects that
carry a merge key (``containers``/``env``/``volumes`` by ``name``, container ports by
``containerPort``, service ports by ``port``, ...) are merged element by element; other
lists are replaced. Directives: ``$patch: delete|replace`` (in a map or a list element),
``$deleteFromPrimitiveList/<field>``, and ``$setElementOrder/<field>`` / ``$retainKeys``
(accepted and ignored). Primitive lists with the ``merge`` strategy (``finalizers``) are
unioned.
"""

from __future__ import annotations

from typing import Any

from services.fleet.errors import ApiError


def clone(value: Any) -> Any:
    """Deep copy of a JSON value (much faster than ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


# -- JSON merge patch ------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: returns a new value; ``null`` deletes, objects merge, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------------

#: list field name -> candidate merge keys (the first one present in the elements is used)
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "ports": ("containerPort", "port"),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "topologySpreadConstraints": ("topologyKey",),
    "resourceClaims": ("name",),
    "schedulingGates": ("name",),
    "readinessGates": ("conditionType",),
}
#: primitive lists merged as sets
MERGE_PRIMITIVE = frozenset({"finalizers"})


def _merge_key(field: str, items: list[Any]) -> str | None:
    candidates = MERGE_KEYS.get(field)
    if not candidates:
        return None
    dicts = [i for i in items if isinstance(i, dict)]
    for key in candidates:
        if dicts and all(key in i for i in dicts):
            return key
    return None


def strategic_merge(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to ``target`` (returns a new value)."""
    if not isinstance(patch, dict):
        return clone(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            current = result.get(field)
            if isinstance(current, list) and isinstance(value, list):
                result[field] = [v for v in current if v not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
                continue
            merged = strategic_merge(current, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, current, value)
        else:
            result[key] = value
    return result


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    if field in MERGE_PRIMITIVE and isinstance(current, list):
        out = list(current)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    key = _merge_key(field, patch)
    if key is None:
        return [
            {k: clone(v) for k, v in i.items() if k != "$patch"} if isinstance(i, dict) else i
            for i in patch
            if not (isinstance(i, dict) and i.get("$patch") == "delete")
        ]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [clone(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    out = [clone(i) for i in current] if isinstance(current, list) else []
    for item in patch:
        if not isinstance(item, dict):
            continue
        idx = next(
            (n for n, e in enumerate(out) if isinstance(e, dict) and e.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


# -- JSON patch --------------------------------------------------------------------------------


def _invalid(message: str) -> ApiError:
    return ApiError(422, message, "Invalid")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid(
            f"the server rejected our request due to an error in our request: "
            f'invalid JSON pointer "{path}"'
        )
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise _invalid(
                f"the server rejected our request due to an error in our request: "
                f'doc is missing path: "{path}": missing value'
            )
    return cur, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _invalid(
        f"the server rejected our request due to an error in our request: "
        f'doc is missing path: "{path}": missing value'
    )


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _invalid(
        f"the server rejected our request due to an error in our request: "
        f"Unable to remove nonexistent key: {last}: missing value"
    )


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _invalid(
                f"the server rejected our request due to an error in our request: "
                f"replace operation does not apply: doc is missing key: {path}: "
                "missing value"
            )
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise _invalid(
                f"the server rejected our request due to an error in our request: "
                f'add operation does not apply: doc is missing path: "{path}": '
                "missing value"
            )
    else:
        raise _invalid(
            f"the server rejected our request due to an error in our request: "
            f'doc is missing path: "{path}": missing value'
        )
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 on a copy of ``target``; failures raise 422 ``Invalid``."""
    if not isinstance(ops, list):
        raise ApiError.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = clone(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _invalid(
                "the server rejected our request due to an error in our request: "
                "operation missing op or path"
            )
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, clone(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, clone(op.get("value")), replace=True)
        elif kind == "move":
            value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, clone(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _invalid(
                    f"the server rejected our request due to an error in our "
                    f"request: testing value {path} failed: test failed"
                )
        else:
            raise _invalid(
                f"the server rejected our request due to an error in our request: "
                f"Unexpected kind: {kind}"
            )
    return doc
