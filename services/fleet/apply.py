"""Server-side apply and ``managedFields``.

Ownership is tracked per field manager at leaf granularity: a leaf is a scalar, an empty
map or an atomic list. For the built-in kinds, lists of maps with a merge key (containers,
env, volumes by ``name``, ports by port, conditions by ``type``: the strategic-merge table)
are associative: each element is addressed by its key (``k:{"name":"main"}``) and its fields
are owned separately, as the real server does. Custom resources' lists are atomic.
``managedFields[].fieldsV1`` uses the real encoding (``{"f:spec": {"f:replicas": {}}}``)
and is the only place ownership is stored.

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
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from services.fleet.errors import ApiError
from services.fleet.patching import MERGE_KEYS


@dataclass(frozen=True)
class Item:
    """A path step into an associative list: the element whose ``key`` equals ``value``."""

    key: str
    value: Any

    def encoded(self) -> str:
        return "k:" + json.dumps({self.key: self.value}, separators=(",", ":"))


Path = tuple[str | Item, ...]

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


def leaves(
    obj: dict[str, Any], include_status: bool = True, assoc: bool = False
) -> Iterator[tuple[Path, Any]]:
    """(path, value) for every owned-able leaf of an object."""
    for key, value in obj.items():
        if key in _SKIP_TOP or (key == "status" and not include_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            for mk, mv in value.items():
                if mk in _SKIP_META:
                    continue
                yield from _walk((key, mk), mv, assoc)
            continue
        yield from _walk((key,), value, assoc)


def list_key(field: Any, items: Any) -> str | None:
    """The merge key of an associative list, or None when the list is atomic."""
    if not isinstance(field, str) or not isinstance(items, list) or not items:
        return None
    for key in MERGE_KEYS.get(field, ()):
        if all(isinstance(i, dict) and _scalar(i.get(key)) for i in items):
            values = [i[key] for i in items]
            if len(set(map(repr, values))) == len(values):
                return key
    return None


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _walk(path: Path, value: Any, assoc: bool) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _walk((*path, k), v, assoc)
        return
    if assoc and value == [] and isinstance(path[-1], str) and path[-1] in MERGE_KEYS:
        return  # an empty associative list claims no element
    key = list_key(path[-1], value) if assoc else None
    if key is None:
        yield path, value
        return
    for element in value:
        yield from _walk((*path, Item(key, element[key])), element, assoc)


_MISSING = object()


def _step(cur: Any, part: str | Item) -> Any:
    if isinstance(part, Item):
        if isinstance(cur, list):
            for e in cur:
                if isinstance(e, dict) and e.get(part.key) == part.value:
                    return e
        return _MISSING
    if isinstance(cur, dict) and part in cur:
        return cur[part]
    return _MISSING


def get_path(obj: Any, path: Path) -> Any:
    cur = obj
    for part in path:
        cur = _step(cur, part)
        if cur is _MISSING:
            return _MISSING
    return cur


def set_path(obj: dict[str, Any], path: Path, value: Any) -> None:
    cur: Any = obj
    for i, part in enumerate(path[:-1]):
        want_list = isinstance(path[i + 1], Item)
        if isinstance(part, Item):
            nxt = _step(cur, part)
            if nxt is _MISSING:
                nxt = {part.key: part.value}
                cur.append(nxt)
        else:
            nxt = cur.get(part)
            if not isinstance(nxt, list if want_list else dict):
                nxt = [] if want_list else {}
                cur[part] = nxt
        cur = nxt
    last = path[-1]
    assert isinstance(last, str)
    cur[last] = value


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Remove a leaf, then prune what the removal left empty (never top-level fields).

    An associative-list element goes when only its key is left; its key field alone is
    never removed while other fields remain.
    """
    chain: list[Any] = [obj]
    cur: Any = obj
    for part in path[:-1]:
        cur = _step(cur, part)
        if cur is _MISSING or not isinstance(cur, dict | list):
            return
        chain.append(cur)
    last = path[-1]
    if not isinstance(cur, dict) or not isinstance(last, str) or last not in cur:
        return
    parent_step = path[-2] if len(path) > 1 else None
    if isinstance(parent_step, Item) and parent_step.key == last and len(cur) > 1:
        return
    del cur[last]
    for depth in range(len(path) - 1, 0, -1):
        node, parent, step = chain[depth], chain[depth - 1], path[depth - 1]
        if isinstance(step, Item):
            if all(k == step.key for k in node):
                parent.remove(node)
                continue
            break
        if depth >= 2 and node in ({}, []):
            del parent[step]
            continue
        break


def changed_leaves(
    old: dict[str, Any] | None, new: dict[str, Any], assoc: bool = False
) -> set[Path]:
    """Leaves of ``new`` whose value differs from ``old`` (all of them on create)."""
    if old is None:
        return {p for p, _ in leaves(new, assoc=assoc)}
    return {p for p, v in leaves(new, assoc=assoc) if get_path(old, p) != v}


# -- fieldsV1 encoding -----------------------------------------------------------------------


def _enc(part: str | Item) -> str:
    return part.encoded() if isinstance(part, Item) else f"f:{part}"


#: encoded fieldsV1 documents shared between objects of the same shape (never mutated)
_ENCODED: dict[frozenset[Path], dict[str, Any]] = {}


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """The fieldsV1 document of a set of leaves (memoised: treat the result as read-only)."""
    key = frozenset(paths)
    doc = _ENCODED.get(key)
    if doc is None:
        if len(_ENCODED) >= 4096:
            _ENCODED.clear()
        doc = _ENCODED[key] = _encode(key)
    return doc


def _encode(paths: Iterable[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths, key=lambda p: tuple(_enc(x) for x in p)):
        cur = root
        for part in path:
            cur = cur.setdefault(_enc(part), {})
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
        children = [k for k in node if k.startswith(("f:", "k:"))]
        if not children:
            if path:
                out.add(path)
            return
        for k in children:
            walk(node[k], (*path, _dec(k)))

    walk(fields or {}, ())
    return out


def _dec(key: str) -> str | Item:
    if key.startswith("k:"):
        try:
            [(k, v)] = json.loads(key[2:]).items()
            return Item(k, v)
        except (ValueError, AttributeError):
            return key[2:]
    return key[2:]


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
    assoc: bool = False,
) -> None:
    """Give the leaves an update changed to ``manager`` (operation Update), in place."""
    meta = obj.setdefault("metadata", {})
    entries = list((old or {}).get("metadata", {}).get("managedFields") or [])
    changed = changed_leaves(old, obj, assoc)
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
    assoc: bool = False,
) -> dict[str, Any]:
    """Return the new object for an apply of ``applied`` by ``manager`` onto ``live``."""
    new_paths = {p: v for p, v in leaves(applied, include_status, assoc)}
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


def format_path(path: Path) -> str:
    """``.spec.containers[name="main"].image`` as the real conflict messages print paths."""
    out = []
    for part in path:
        if isinstance(part, Item):
            out.append(f"[{part.key}={json.dumps(part.value)}]")
        else:
            out.append(f".{part}")
    return "".join(out)


def _conflict_error(conflicts: list[tuple[str, Path]]) -> ApiError:
    causes = []
    lines = []
    for manager, path in conflicts:
        field = format_path(path)
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
