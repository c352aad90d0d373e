"""Watch streams: resume from a resourceVersion, initial events, bookmarks, 410 Gone.

The watcher subscribes before the initial state or the replay is computed (both happen
without yielding to the loop), then live events are deduplicated by RV, so nothing falls in
the gap. Lines are newline-delimited JSON flushed per batch of ready events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from services.fleet.errors import ApiError
from services.fleet.kinds import ResourceType
from services.fleet.selectors import Matcher
from services.fleet.store import (
    CLOSE,
    ClusterStore,
    Event,
    Watcher,
    filtered_type,
    watch_line,
    with_api_version,
)

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
#: converts stored objects to the watch's version (custom resources with a conversion webhook)
Converting = Callable[[list[dict[str, Any]]], Awaitable[list[dict[str, Any]]]]


async def _lines(
    pending: list[tuple[Event, str]], rt: ResourceType, convert: Converting | None
) -> bytes:
    """The watch lines of events; a failed conversion becomes the stream's ERROR line."""
    if convert is None:
        return b"".join(ev.line(type_, rt.api_version) for ev, type_ in pending)
    try:
        objs = await convert([ev.obj for ev, _ in pending])
    except ApiError as err:
        raise _Failed(watch_line("ERROR", err.status())) from None
    return b"".join(watch_line(type_, obj) for (_, type_), obj in zip(pending, objs, strict=True))


class _Failed(Exception):
    """A conversion failed: its ERROR line ends the stream."""

    def __init__(self, line: bytes) -> None:
        super().__init__("conversion failed")
        self.line = line


def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return watch_line("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})


def expired_line(asked: int, oldest: int) -> bytes:
    status = ApiError(410, f"too old resource version: {asked} ({oldest})", "Expired").status()
    return watch_line("ERROR", status)


async def serve_watch(
    request: web.Request,
    store: ClusterStore,
    rt: ResourceType,
    namespace: str | None,
    labels: Matcher | None,
    fields: Matcher | None,
    bookmark_interval: float,
    convert: Converting | None = None,
) -> web.StreamResponse:
    q = request.query
    rv_param = q.get("resourceVersion", "")
    send_initial = q.get("sendInitialEvents") in ("true", "1")
    bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
    timeout: float | None = None
    if q.get("timeoutSeconds"):
        try:
            timeout = float(q["timeoutSeconds"])
        except ValueError:
            raise ApiError.bad_request(f"invalid timeoutSeconds {q['timeoutSeconds']!r}") from None
    w = Watcher(
        rt.key, rt, namespace, labels, fields, asyncio.Queue(maxsize=store.watch_queue_size)
    )
    transport = request.transport
    if transport is not None:
        w.on_overflow = transport.close  # a watcher that fell behind loses its connection
    first: list[bytes] = []
    initial: list[dict[str, Any]] = []
    replayed: list[tuple[Event, str]] = []
    close_after_first = False
    if send_initial or rv_param in ("", "0"):
        store.subscribe(w)
        for obj in store.iter(rt.key, namespace):
            if w.matches(obj):
                if convert is not None:
                    initial.append(obj)
                else:
                    first.append(watch_line("ADDED", with_api_version(obj, rt.api_version)))
        last = store.rv
        if send_initial:
            first.append(_bookmark(rt, last, initial_end=True))
    else:
        try:
            asked = int(rv_param)
        except ValueError:
            raise ApiError.bad_request(
                f'invalid resource version "{rv_param}": strconv.ParseUint: parsing '
                f'"{rv_param}": invalid syntax'
            ) from None
        if asked < store.floor:
            first.append(expired_line(asked, store.floor + 1))
            close_after_first = True
            last = asked
        else:
            store.subscribe(w)
            for ev in store.replay(rt.key, asked):
                if namespace is not None and ev.namespace != namespace:
                    continue
                type_ = filtered_type(w, ev)
                if type_ is not None:
                    if convert is not None:
                        replayed.append((ev, type_))
                    else:
                        first.append(ev.line(type_, rt.api_version))
            last = max(asked, store.rv)

    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"},
    )
    resp.enable_chunked_encoding()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout is not None else None
    try:
        await resp.prepare(request)
        if convert is not None and (initial or replayed):
            try:
                if initial:
                    objs = await convert(initial)
                    first[:0] = [watch_line("ADDED", o) for o in objs]
                if replayed:
                    first.insert(0, await _lines(replayed, rt, convert))
            except ApiError as err:
                first, close_after_first = [watch_line("ERROR", err.status())], True
            except _Failed as failed:
                first, close_after_first = [failed.line], True
        if first:
            await resp.write(b"".join(first))
        if close_after_first:
            await resp.write_eof()
            return resp
        while True:
            wait: float | None = bookmark_interval if bookmarks else None
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    if bookmarks and w.queue.empty():
                        await resp.write(_bookmark(rt, store.rv))
                    break
                wait = remaining if wait is None else min(wait, remaining)
            try:
                item = await asyncio.wait_for(w.queue.get(), wait)
            except TimeoutError:
                if bookmarks and w.queue.empty() and not w.closed:
                    await resp.write(_bookmark(rt, max(last, store.rv)))
                continue
            batch = [item]
            while not w.queue.empty():
                batch.append(w.queue.get_nowait())
            pending: list[tuple[Event, str]] = []
            done = False
            for it in batch:
                if it is CLOSE:
                    done = True
                    break
                ev, type_ = it
                if ev.rv <= last:
                    continue
                last = ev.rv
                pending.append((ev, type_))
            if pending:
                try:
                    await resp.write(await _lines(pending, rt, convert))
                except _Failed as failed:
                    await resp.write(failed.line)
                    done = True
            if done:
                break
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        w.closed = True
        store.unsubscribe(w)
    return resp


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
