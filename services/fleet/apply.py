"""Server-side apply and ``managedFields``.

Ownership is tracked per field manager at leaf granularity: a leaf is a scalar, a list
(lists are atomic) or an empty map. ``managedFields[].fieldsV1`` uses the real encoding
(``{"f:spec": {"f:replicas": {}}}``) and is the only place ownership is stored.

Apply (``application/apply-patch+yaml``):
- every leaf of the applied configuration is set on the live object;
- a leaf owned by another *Apply* manager whose live value differs from the applied one is
  a conflict (409 unless ``force=true``, which transfers the ownership); applying an equal
  value makes the managers co-owners;
- leaves this manager owned before and no longer applies are removed from the object
  unless another manager still owns them.
Updates (create, PUT, merge/strategic/JSON patch) give the changed leaves to the updater's
``Update`` entry and take them away from every other manager.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from services.fleet.errors import ApiError

Path = tuple[str, ...]

#: metadata fields that are never owned (server-managed or identity)
_SKIP_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
_SKIP_TOP = frozenset({"apiVersion", "kind"})


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def leaves(obj: dict[str, Any], include_status: bool = True) -> Iterator[tuple[Path, Any]]:
    """(path, value) for every owned-able leaf of an object."""
    for key, value in obj.items():
        if key in _SKIP_TOP or (key == "status" and not include_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            for mk, mv in value.items():
                if mk in _SKIP_META:
                    continue
                yield from _walk((key, mk), mv)
            continue
        yield from _walk((key,), value)


def _walk(path: Path, value: Any) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _walk((*path, k), v)
    else:
        yield path, value


_MISSING = object()


def get_path(obj: Any, path: Path) -> Any:
    cur = obj
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def set_path(obj: dict[str, Any], path: Path, value: Any) -> None:
    cur = obj
    for part in path[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[path[-1]] = value


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Remove a leaf, then prune parent maps the removal left empty (never top-level ones)."""
    chain = [obj]
    cur: Any = obj
    for part in path[:-1]:
        if not isinstance(cur, dict) or not isinstance(cur.get(part), dict):
            return
        cur = cur[part]
        chain.append(cur)
    if path[-1] not in cur:
        return
    del cur[path[-1]]
    for depth in range(len(path) - 1, 1, -1):
        parent = chain[depth - 1]
        if chain[depth] == {}:
            del parent[path[depth - 1]]
        else:
            break


def changed_leaves(old: dict[str, Any] | None, new: dict[str, Any]) -> set[Path]:
    """Leaves of ``new`` whose value differs from ``old`` (all of them on create)."""
    if old is None:
        return {p for p, _ in leaves(new)}
    return {p for p, v in leaves(new) if get_path(old, p) != v}


# -- fieldsV1 encoding -----------------------------------------------------------------------


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        cur = root
        for part in path:
            cur = cur.setdefault(f"f:{part}", {})
    return _mark_parents(root, top=True)


def _mark_parents(node: dict[str, Any], top: bool = False) -> dict[str, Any]:
    for key, child in list(node.items()):
        if child:
            node[key] = _mark_parents(child)
    if node and not top:
        return {".": {}, **node}
    return node


def decode_fields(fields: dict[str, Any] | None) -> set[Path]:
    out: set[Path] = set()

    def walk(node: dict[str, Any], path: Path) -> None:
        children = [k for k in node if k.startswith("f:")]
        if not children:
            if path:
                out.add(path)
            return
        for k in children:
            walk(node[k], (*path, k[2:]))

    walk(fields or {}, ())
    return out


def _overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _owned(entry: dict[str, Any]) -> set[Path]:
    return decode_fields(entry.get("fieldsV1"))


def _entry(
    manager: str, operation: str, api_version: str, paths: set[Path], subresource: str = ""
) -> dict[str, Any]:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": encode_fields(paths),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def record_update(
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    manager: str,
    api_version: str,
    subresource: str = "",
) -> None:
    """Give the leaves an update changed to ``manager`` (operation Update), in place."""
    meta = obj.setdefault("metadata", {})
    entries = list((old or {}).get("metadata", {}).get("managedFields") or [])
    changed = changed_leaves(old, obj)
    if not changed:
        meta["managedFields"] = entries
        if not entries:
            meta.pop("managedFields", None)
        return
    out = []
    mine: set[Path] = set(changed)
    for e in entries:
        owned = _owned(e)
        if (
            e.get("manager") == manager
            and e.get("operation") == "Update"
            and (e.get("subresource", "") == subresource)
        ):
            mine |= {p for p in owned if get_path(obj, p) is not _MISSING}
            continue
        kept = {p for p in owned if not any(_overlaps(p, c) for c in changed)}
        kept = {p for p in kept if get_path(obj, p) is not _MISSING}
        if kept:
            e = dict(e)
            e["fieldsV1"] = encode_fields(kept)
            out.append(e)
    out.append(_entry(manager, "Update", api_version, mine, subresource))
    meta["managedFields"] = out


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str,
    force: bool,
    api_version: str,
    include_status: bool,
    subresource: str = "",
) -> dict[str, Any]:
    """Return the new object for an apply of ``applied`` by ``manager`` onto ``live``."""
    new_paths = {p: v for p, v in leaves(applied, include_status)}
    if subresource == "status":
        new_paths = {p: v for p, v in new_paths.items() if p[0] == "status"}
    result: dict[str, Any] = {k: v for k, v in _clone(live).items()} if live is not None else {}
    entries = list((live or {}).get("metadata", {}).get("managedFields") or [])
    previous: set[Path] = set()
    others: list[tuple[dict[str, Any], set[Path]]] = []
    for e in entries:
        if (
            e.get("manager") == manager
            and e.get("operation") == "Apply"
            and (e.get("subresource", "") == subresource)
        ):
            previous = _owned(e)
        else:
            others.append((e, _owned(e)))

    # conflicts with other appliers
    if live is not None and not force:
        conflicts: list[tuple[str, Path]] = []
        for e, owned in others:
            if e.get("operation") != "Apply":
                continue
            for p in owned:
                for q, v in new_paths.items():
                    if _overlaps(p, q) and get_path(live, q) != v:
                        conflicts.append((str(e.get("manager", "")), q))
                        break
        if conflicts:
            raise _conflict_error(conflicts)

    # set applied leaves
    for p, v in new_paths.items():
        set_path(result, p, _clone(v))
    # remove what this manager dropped, unless someone else still owns it
    still_owned = set().union(*(o for _, o in others)) if others else set()
    for p in previous - set(new_paths):
        if any(_overlaps(p, q) for q in new_paths):
            continue
        if any(_overlaps(p, o) for o in still_owned):
            continue
        remove_path(result, p)

    # ownership: changed leaves move to this manager; applying an equal value shares them
    changed = [q for q, v in new_paths.items() if live is None or get_path(live, q) != v]
    out: list[dict[str, Any]] = []
    for e, owned in others:
        kept = {p for p in owned if not any(_overlaps(p, q) for q in changed)}
        kept = {p for p in kept if get_path(result, p) is not _MISSING}
        if kept:
            if kept != owned:
                e = dict(e)
                e["fieldsV1"] = encode_fields(kept)
            out.append(e)
    out.append(_entry(manager, "Apply", api_version, set(new_paths), subresource))
    meta = result.setdefault("metadata", {})
    meta["managedFields"] = out
    for key in ("apiVersion", "kind"):
        if key in applied:
            result[key] = applied[key]
    return result


def _conflict_error(conflicts: list[tuple[str, Path]]) -> ApiError:
    causes = []
    lines = []
    for manager, path in conflicts:
        field = "." + ".".join(path)
        causes.append(
            {
                "reason": "FieldManagerConflict",
                "message": f'conflict with "{manager}": {field}',
                "field": field,
            }
        )
        lines.append(f'conflict with "{manager}": {field}')
    n = len(conflicts)
    plural = "conflict" if n == 1 else "conflicts"
    if n == 1:
        message = f"Apply failed with 1 conflict: {lines[0]}"
    else:
        message = f"Apply failed with {n} {plural}: " + "\n- ".join(["", *lines]).lstrip("\n")
    return ApiError(409, message, "Conflict", {"causes": causes})


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value
