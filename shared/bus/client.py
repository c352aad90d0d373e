"""Connecting to NATS and publishing/consuming the contract's per-change events (the events'
helpers are in :mod:`shared.bus.events`, re-exported here)."""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from nats.aio.client import Client
from nats.aio.msg import Msg

from shared.bus.errors import BusError
from shared.bus.events import MSG_ID_HEADER as MSG_ID_HEADER
from shared.bus.events import EventStream as EventStream
from shared.bus.events import decode_event as decode_event
from shared.bus.events import publish_change as publish_change
from shared.bus.events import publish_event as publish_event
from shared.contract.accounts import subject_matches

log = logging.getLogger(__name__)


PERMISSIONS_VIOLATION = "permissions violation"
"""How nats-server words a refused publish or subscription (``-ERR 'Permissions Violation
for Publish to ...'``); nats-py hands it to ``error_cb``."""

AUTHORIZATION_VIOLATION = "authorization violation"
"""How nats-server words refused credentials (the connection is closed)."""


@dataclass
class BusStats:
    """Counters of one connection made by :func:`connect`, for a service's metrics
    (:meth:`metrics`). A permission violation is a refusal by the server: a publish or
    subscription outside the user's permissions (a misconfiguration, or a spoofing
    attempt)."""

    permission_violations: int = 0
    last_permission_violation: str = ""
    authorization_violations: int = 0
    """Connection attempts whose credentials the server refused."""
    async_errors: int = 0
    """Every asynchronous error nats-py reported (the violations included)."""
    redirected_deliveries: int = 0
    """Messages a :func:`subscribe_guarded` subscription refused: a subject it does not
    match (a consumer's delivery redirected onto it)."""

    def record(self, err: BaseException) -> None:
        self.async_errors += 1
        text = str(err)
        if PERMISSIONS_VIOLATION in text.lower():
            self.permission_violations += 1
            self.last_permission_violation = text
        elif AUTHORIZATION_VIOLATION in text.lower():
            self.authorization_violations += 1

    def metrics(self, prefix: str = "nats_") -> dict[str, tuple[str, str, float]]:
        """``{name: (type, help, value)}``, the form the services' ``/metrics`` use."""
        return {
            f"{prefix}permission_violations_total": (
                "counter",
                "Publishes and subscriptions the NATS server refused (permissions violation)",
                float(self.permission_violations),
            ),
            f"{prefix}authorization_violations_total": (
                "counter",
                "Connection attempts whose credentials the NATS server refused",
                float(self.authorization_violations),
            ),
            f"{prefix}async_errors_total": (
                "counter",
                "Asynchronous errors reported by the NATS connection",
                float(self.async_errors),
            ),
            f"{prefix}redirected_deliveries_total": (
                "counter",
                "Messages refused by a core subscription: a subject it does not match "
                "(another user's consumer delivering onto it)",
                float(self.redirected_deliveries),
            ),
        }


_STATS: weakref.WeakKeyDictionary[Client, BusStats] = weakref.WeakKeyDictionary()


_RECONNECT: weakref.WeakKeyDictionary[Client, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def on_reconnect(client: Client, listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener()`` (on the loop, no I/O: e.g. wake a task) each time a connection
    made by :func:`connect` is re-established, on the same server or another of the
    cluster; returns the function that removes it. Nothing is called for connections made
    otherwise."""
    listeners = _RECONNECT.setdefault(client, [])
    listeners.append(listener)

    def remove() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return remove


def bus_stats(client: Client) -> BusStats:
    """The counters of a connection made by :func:`connect` (zeros for any other)."""
    return _STATS.get(client) or BusStats()


async def connect(
    url: str | list[str], name: str, *, stats: BusStats | None = None, **opts: Any
) -> Client:
    """Connect with Ripple's defaults (``url``: one URL, several comma-separated, or a list:
    every server of a cluster, so the client fails over to another): reconnect forever (0.5 s apart, jittered by nats-py),
        2 s connect timeout, 10 s pings, and callbacks that log disconnects, reconnects and
        asynchronous errors (e.g. permission violations). ``opts`` override any nats-py option
        (``user=``/``password=``, ``user_credentials=``, ``inbox_prefix=``...); an ``error_cb``
        given there is called after the error is counted. Asynchronous errors are counted in
        ``stats`` (a new :class:`BusStats` when not given), also available as
        :func:`bus_stats(client) <bus_stats>`."""
    obj = {"obj": name}
    holder: list[Client] = []
    counters = stats if stats is not None else BusStats()
    user_error_cb = opts.pop("error_cb", None)

    async def error_cb(err: Exception) -> None:
        counters.record(err)
        if user_error_cb is not None:
            await user_error_cb(err)
        else:
            log.warning("NATS error: %s", err, extra=obj)

    async def disconnected_cb() -> None:
        closing = bool(holder) and (holder[0].is_closed or holder[0].is_draining)
        log.log(logging.DEBUG if closing else logging.WARNING, "disconnected from NATS", extra=obj)

    async def reconnected_cb() -> None:
        where = holder[0].connected_url if holder else None
        log.info("reconnected to NATS (%s)", where.netloc.rpartition("@")[2] if where else "?",
                 extra=obj)  # fmt: skip
        for listener in list(_RECONNECT.get(holder[0], ())) if holder else ():
            listener()

    async def closed_cb() -> None:
        log.debug("NATS connection closed", extra=obj)

    options: dict[str, Any] = {
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "ping_interval": 10,
        "max_outstanding_pings": 3,
        "disconnected_cb": disconnected_cb,
        "reconnected_cb": reconnected_cb,
        "closed_cb": closed_cb,
    }
    options.update(opts)
    options["error_cb"] = error_cb
    servers = [u.strip() for u in url.split(",") if u.strip()] if isinstance(url, str) else url
    servers = _lift_credentials(servers, options)
    client = Client()
    try:
        await client.connect(servers=servers, **options)
    except Exception as err:  # nats-py raises a variety of OSError/NATS errors here
        with contextlib.suppress(Exception):  # e.g. refused credentials leave a socket open
            await client.close()
        where = [_redact(s) for s in servers]
        raise BusError(f"cannot connect to NATS at {where} as {name!r}: {err}") from err
    holder.append(client)
    _STATS[client] = counters
    return client


def _lift_credentials(servers: list[str], options: dict[str, Any]) -> list[str]:
    """``user:password@`` of the URLs moved into the ``user``/``password`` options (when no
    other credentials are given): nats-py only uses a URL's own credentials for that URL,
    and the servers a cluster advertises (added to the pool on connect) come without them,
    so a failover to one would be refused."""
    if any(options.get(k) for k in ("user", "password", "token", "user_credentials", "nkeys_seed")):
        return servers
    found: set[tuple[str, str | None]] = set()
    plain: list[str] = []
    for server in servers:
        parts = urlsplit(server)
        if parts.username is not None:
            password = None if parts.password is None else unquote(parts.password)
            found.add((unquote(parts.username), password))
        plain.append(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))
    if len(found) != 1 or any("@" not in s for s in servers):
        return servers  # none, or not the same on every URL: left to nats-py
    user, password = found.pop()
    if password is None:  # nats://<token>@host
        options["token"] = user
    else:
        options["user"] = user
        options["password"] = password
    return plain


def _redact(url: str) -> str:
    """``url`` without a password (``nats://user:***@host``)."""
    head, at, host = url.rpartition("@")
    if not at:
        return url
    scheme, sep, userinfo = head.rpartition("//")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


async def close(client: Client) -> None:
    """Drain and close a connection; when draining is impossible (the server is gone or the
    connection is reconnecting), close it without draining. Never raises."""
    try:
        await client.drain()
    except Exception as err:  # nats-py raises several error types here
        log.debug("drain failed (%s): closing", err, extra={"obj": "nats"})
        try:
            await client.close()
        except Exception:
            pass


async def subscribe_guarded(
    nc: Client,
    subject: str,
    cb: Callable[[Msg], Awaitable[None]],
    *,
    on_refused: Callable[[Msg], None] | None = None,
) -> Any:
    """A core subscription on ``subject`` whose callback sees only messages published on a
    subject that ``subject`` matches.

    nats-server does not check a push consumer's deliver subject against its creator's
    permissions (nats-io/nats-server#8274): a user allowed to create a consumer on its own
    keys or events can have them delivered onto any subject someone subscribes to, an
    agent's CloudEvents subject included. Such a delivery keeps the subject its message was
    stored under, and the contract keeps stored subjects apart from the subjects of core
    subscriptions (:data:`shared.contract.permissions.RESERVED_SUBJECTS`): it never matches.
    It is dropped, counted (:attr:`BusStats.redirected_deliveries`), logged with its subject,
    and handed to ``on_refused`` (a service's own counter). Use it for every core
    subscription on a subject others publish to; replies to requests need none (an account
    of its own keeps them out of reach, :mod:`shared.contract.accounts`)."""
    counters = _STATS.setdefault(nc, BusStats())

    async def guarded(msg: Msg) -> None:
        if subject_matches(subject, msg.subject):
            await cb(msg)
            return
        counters.redirected_deliveries += 1
        log.warning(
            "refused a message on subscription %s: its subject %s is not one of it "
            "(a consumer's delivery redirected here?)",
            subject,
            msg.subject,
            extra={"obj": subject},
        )
        if on_refused is not None:
            on_refused(msg)

    return await nc.subscribe(subject, cb=guarded)
