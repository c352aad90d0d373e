"""Field paths of server-side apply: leaves of an object, associative-list steps, and the
``fieldsV1`` encoding of ``managedFields``.

A path is a tuple of map keys and :class:`Item` steps (an associative-list element
addressed by its merge key). A leaf is a scalar, an empty map or an atomic list; for the
built-in kinds, lists of maps with a merge key (the strategic-merge table) are associative.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from services.fleet.patching import MERGE_KEYS

#: list-map keys the real schemas add to a merge key, with the default a missing one takes
#: (``x-kubernetes-list-map-keys``: Service ports by port+protocol, container ports by
#: containerPort+protocol)
EXTRA_KEYS: dict[str, tuple[tuple[str, Any], ...]] = {
    "port": (("protocol", "TCP"),),
    "containerPort": (("protocol", "TCP"),),
}
_KEY_DEFAULTS: dict[str, Any] = {k: d for extra in EXTRA_KEYS.values() for k, d in extra}


@dataclass(frozen=True)
class Item:
    """A path step into an associative list: the element whose ``key`` equals ``value``
    (and whose ``extra`` keys, e.g. a port's protocol, equal theirs)."""

    key: str
    value: Any
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.key, *(k for k, _ in self.extra))

    def fields(self) -> dict[str, Any]:
        """The key fields, sorted by name as the real ``fieldsV1`` and messages write them."""
        return dict(sorted({self.key: self.value, **dict(self.extra)}.items()))

    def encoded(self) -> str:
        return "k:" + json.dumps(self.fields(), separators=(",", ":"))

    def matches(self, element: Any) -> bool:
        if not isinstance(element, dict) or element.get(self.key) != self.value:
            return False
        return all(element.get(k, _KEY_DEFAULTS.get(k)) == v for k, v in self.extra)


def item_of(key: str, element: dict[str, Any]) -> Item:
    """The step addressing ``element`` of a list whose merge key is ``key``."""
    extra = tuple((k, element.get(k, d)) for k, d in EXTRA_KEYS.get(key, ()))
    return Item(key, element[key], extra)


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


_NOW: tuple[int, str] = (0, "")


def now() -> str:
    """The current time as Kubernetes writes it (one shared string per second)."""
    global _NOW
    second = int(time.time())
    if _NOW[0] != second:
        _NOW = (second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _NOW[1]


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
            values = [repr(item_of(key, i).fields()) for i in items]
            if len(set(values)) == len(values):
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
        yield from _walk((*path, item_of(key, element)), element, assoc)


MISSING = object()


def _step(cur: Any, part: str | Item) -> Any:
    if isinstance(part, Item):
        if isinstance(cur, list):
            for e in cur:
                if part.matches(e):
                    return e
        return MISSING
    if isinstance(cur, dict) and part in cur:
        return cur[part]
    return MISSING


def get_path(obj: Any, path: Path) -> Any:
    cur = obj
    for part in path:
        cur = _step(cur, part)
        if cur is MISSING:
            return MISSING
    return cur


def set_path(obj: dict[str, Any], path: Path, value: Any) -> None:
    cur: Any = obj
    for i, part in enumerate(path[:-1]):
        want_list = isinstance(path[i + 1], Item)
        if isinstance(part, Item):
            nxt = _step(cur, part)
            if nxt is MISSING:
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
        if cur is MISSING or not isinstance(cur, dict | list):
            return
        chain.append(cur)
    last = path[-1]
    if not isinstance(cur, dict) or not isinstance(last, str) or last not in cur:
        return
    parent_step = path[-2] if len(path) > 1 else None
    if isinstance(parent_step, Item) and last in parent_step.names and len(cur) > 1:
        return
    del cur[last]
    for depth in range(len(path) - 1, 0, -1):
        node, parent, step = chain[depth], chain[depth - 1], path[depth - 1]
        if isinstance(step, Item):
            if all(k in step.names for k in node):
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
            fields = json.loads(key[2:])
            primary = next(k for k in fields if k not in _KEY_DEFAULTS or len(fields) == 1)
            extra = tuple(sorted((k, v) for k, v in fields.items() if k != primary))
            return Item(primary, fields[primary], extra)
        except (ValueError, AttributeError, StopIteration, TypeError):
            return key[2:]
    return key[2:]


def remove_item(obj: dict[str, Any], path: Path) -> None:
    """Remove the associative-list element ``path`` ends with (and the list, when emptied)."""
    parent = get_path(obj, path[:-1])
    step = path[-1]
    if not isinstance(parent, list) or not isinstance(step, Item):
        return
    parent[:] = [e for e in parent if not step.matches(e)]
    if not parent and len(path) >= 3:
        holder = get_path(obj, path[:-2])
        if isinstance(holder, dict) and isinstance(path[-2], str):
            holder.pop(path[-2], None)


def item_prefixes(paths: Iterable[Path]) -> set[Path]:
    """Every path prefix ending with an associative-list element."""
    return {p[: i + 1] for p in paths for i, part in enumerate(p) if isinstance(part, Item)}


def overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]
