"""Server-side apply and ``managedFields``.

Ownership is tracked per field manager at leaf granularity: a leaf is a scalar, an empty
map or an atomic list. For the built-in kinds, lists of maps with a merge key (containers,
env, volumes by ``name``, Service/container ports by port+protocol, conditions by ``type``:
the strategic-merge table plus the schemas' list-map keys) are associative: each element is
addressed by its keys (``k:{"port":80,"protocol":"TCP"}``) and its fields are owned
separately, as the real server does. Custom resources' lists are atomic.
``managedFields[].fieldsV1`` uses the real encoding (``{"f:spec": {"f:replicas": {}}}``)
and is the only place ownership is stored.

Apply (``application/apply-patch+yaml``):
- every leaf of the applied configuration is set on the live object;
- a leaf owned by another *Apply* manager whose live value differs from the applied one is
  a conflict (409 unless ``force=true``, which transfers the ownership); applying an equal
  value makes the managers co-owners;
- leaves this manager owned before and no longer applies are removed from the object
  unless another manager still owns them.
  An associative-list element it no longer applies goes as a whole (key, defaults and all)
  unless another manager owns part of it.
Updates (create, PUT, merge/strategic/JSON patch) give the changed leaves to the updater's
``Update`` entry and take them away from every other manager.
"""

from __future__ import annotations

import json
from typing import Any

from services.fleet.errors import ApiError
from services.fleet.fieldpaths import (
    MISSING,
    Item,
    Path,
    changed_leaves,
    decode_fields,
    encode_fields,
    get_path,
    item_prefixes,
    leaves,
    now,
    overlaps,
    remove_item,
    remove_path,
    set_path,
)


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
            mine |= {p for p in owned if get_path(obj, p) is not MISSING}
            continue
        kept = {p for p in owned if not any(overlaps(p, c) for c in changed)}
        kept = {p for p in kept if get_path(obj, p) is not MISSING}
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
                    if overlaps(p, q) and get_path(live, q) != v:
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
        if any(overlaps(p, q) for q in new_paths):
            continue
        if any(overlaps(p, o) for o in still_owned):
            continue
        remove_path(result, p)
    # an associative-list element this manager applied before and no longer applies goes as
    # a whole (its key and the server's defaults with it) unless another manager owns part of it
    for item in sorted(item_prefixes(previous) - item_prefixes(new_paths), key=len, reverse=True):
        if not any(overlaps(item, o) for o in still_owned):
            remove_item(result, item)

    # ownership: changed leaves move to this manager; applying an equal value shares them
    changed = [q for q, v in new_paths.items() if live is None or get_path(live, q) != v]
    out: list[dict[str, Any]] = []
    for e, owned in others:
        kept = {p for p in owned if not any(overlaps(p, q) for q in changed)}
        kept = {p for p in kept if get_path(result, p) is not MISSING}
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
            keys = ",".join(f"{k}={json.dumps(v)}" for k, v in part.fields().items())
            out.append(f"[{keys}]")
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
