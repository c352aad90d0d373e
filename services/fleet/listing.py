"""List responses: selectors, ``limit``/``continue`` pagination, the real list shape."""

from __future__ import annotations

import base64
import json
from typing import Any

from services.fleet.errors import ApiError
from services.fleet.kinds import ResourceType
from services.fleet.selectors import Matcher
from services.fleet.store import ClusterStore


def _continue_token(start: tuple[str, str], rv: int) -> str:
    raw = json.dumps({"v": 1, "rv": rv, "start": list(start)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        ns, name = data["start"]
        return str(ns), str(name)
    except (ValueError, KeyError, TypeError):
        raise ApiError.bad_request(
            f"continue key is not valid: illegal base64 data at input byte 0 ({token})"
        ) from None


def list_objects(
    store: ClusterStore,
    rt: ResourceType,
    ns: str | None,
    labels: Matcher | None,
    fields: Matcher | None,
    limit_param: str | None,
    cont: str | None,
) -> dict[str, Any]:
    namespace = ns if rt.namespaced else None
    after = _decode_continue(cont) if cont else None
    items = []
    for obj in store.iter(rt.key, namespace):
        if after is not None:
            om = obj["metadata"]
            if (om.get("namespace", ""), om["name"]) <= after:
                continue
        if labels is not None and not labels(obj):
            continue
        if fields is not None and not fields(obj):
            continue
        items.append(obj)
    meta: dict[str, Any] = {"resourceVersion": str(store.rv)}
    try:
        limit = int(limit_param) if limit_param else 0
    except ValueError:
        raise ApiError.bad_request(f"invalid limit {limit_param!r}") from None
    if limit > 0 and len(items) > limit:
        last = items[limit - 1]["metadata"]
        meta["continue"] = _continue_token((last.get("namespace", ""), last["name"]), store.rv)
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    return {
        "kind": f"{rt.kind}List",
        "apiVersion": rt.api_version,
        "metadata": meta,
        # items of built-in lists carry no kind/apiVersion; custom resources' keep theirs
        "items": items
        if not rt.builtin
        else [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items],
    }
