"""Binding to a KV bucket without ``STREAM.INFO``.

nats-py's ``js.key_value(bucket)`` asks ``$JS.API.STREAM.INFO.<stream>`` first. That request
carries a body the server does not check against the user's permissions: with
``subjects_filter`` it lists every key of the bucket. An agent may therefore not send it
(:func:`shared.contract.permissions.agent_permissions`), and binds here instead: the handle
is built from the contract's own declaration of the bucket (:mod:`shared.contract.streams`,
provisioned by :func:`shared.bus.provision.ensure`: direct gets allowed), and whether the
bucket exists is learnt by a direct get of its reserved key
:data:`~shared.contract.streams.PROBE_KEY` (never written; every user that reads a bucket
may read it): "not found" means the bucket is there, "no responders" that it is not.

    kv = await bind(js, streams.DESIRED)   # a nats-py KeyValue; BusError when absent
"""

from __future__ import annotations

import logging
from typing import Any

import nats.errors
from nats.js.kv import KeyValue

from shared.bus.errors import BusError
from shared.contract.streams import PROBE_KEY, BucketSpec

log = logging.getLogger(__name__)

DEFAULT_API_PREFIX = "$JS.API"


def probe_subject(spec: BucketSpec, api_prefix: str = DEFAULT_API_PREFIX) -> str:
    """The direct-get subject of the bucket's reserved key."""
    return f"{api_prefix}.DIRECT.GET.{spec.stream_name}.$KV.{spec.bucket}.{PROBE_KEY}"


def handle(js: Any, spec: BucketSpec) -> KeyValue:
    """A nats-py ``KeyValue`` on ``spec``'s bucket, built without asking the server."""
    return KeyValue(
        name=spec.bucket,
        stream=spec.stream_name,
        pre=f"$KV.{spec.bucket}.",
        js=js,
        direct=True,
    )


async def bind(js: Any, spec: BucketSpec, *, timeout: float | None = None) -> KeyValue:
    """A nats-py ``KeyValue`` on an existing bucket, without ``STREAM.INFO`` (module doc).

    :class:`BusError` when the bucket does not exist (nothing answers its direct gets) or
    the probe failed (a timeout, a refused request: the caller may retry)."""
    nc = js._nc
    wait = float(timeout if timeout is not None else getattr(js, "_timeout", 5.0))
    prefix = str(getattr(js, "_prefix", DEFAULT_API_PREFIX))
    subject = probe_subject(spec, prefix)
    try:
        reply = await nc.request(subject, b"", timeout=wait)
    except nats.errors.NoRespondersError as err:
        raise BusError(f"KV bucket {spec.bucket} does not exist (run ensure)") from err
    except (nats.errors.Error, TimeoutError) as err:
        raise BusError(f"KV bucket {spec.bucket}: cannot probe it: {err!r}") from err
    status = (reply.headers or {}).get("Status", "")
    if status == "503":  # no responders, when the client does not raise it
        raise BusError(f"KV bucket {spec.bucket} does not exist (run ensure)")
    if status != "404":  # the bucket exists, but its reserved key was written: say so
        log.warning(
            "bucket %s: the reserved key %s answered %r (status %s); it should not exist",
            spec.bucket,
            PROBE_KEY,
            reply.data[:64],
            status or "200",
            extra={"obj": f"{spec.bucket}/{PROBE_KEY}"},
        )
    return handle(js, spec)
