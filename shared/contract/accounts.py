"""NATS users, their permissions and their accounts, rendered as nats-server configuration.

The streams and buckets live in one account, :data:`RIPPLE_ACCOUNT` (JetStream enabled). A
user whose :class:`Permissions` name no ``account`` is in it (the manager, administrators,
external readers). A user with an account of its own (each agent, the reporter) reaches the
shared account only through imports, one per subject of its permissions. The shared account
exports them under a few wildcards (:data:`EXPORTS`: nats-server checks every import against
every export when it loads the configuration, so per-import exports would make that
quadratic in the number of clusters), naming no account: every account is in this
configuration, and its imports decide what it gets.

- each ``publish`` subject is a *service* import: the user's message reaches the shared
  account on the same subject, but the reply subject it set is replaced by one the server
  makes (``_R_.``) and mapped back on the way out. The answer to anything it sends -- a
  JetStream ack, a direct get, an API response -- is therefore delivered into its own
  account only;
- each ``subscribe`` subject is a *stream* import: what is published on it in the shared
  account (the deliveries of its consumers to its inbox, its CloudEvents) reaches it.

Why accounts: nats-server checks the subject of a publish against the publisher's
permissions, never its reply subject, and the answer to a request is published by the
server on that reply subject wherever it points. In one shared account, an agent allowed to
publish its own key could have the server store the ack, or (by a direct get of its own key)
a copy of any value and headers it chose, under another cluster's key of any bucket -- a
delete marker or a ``Nats-Rollup`` included. Across accounts the reply never leaves the
requester's account.

:func:`authorization_block` renders the whole ``accounts { ... }`` block (nats-server wants
every user of a configuration with accounts inside one of them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.contract.subjects import EVENTS_ROOT, ROOT

RIPPLE_ACCOUNT = "RIPPLE"
"""The account holding the streams and buckets, and the users that share it."""

EXPORTS: tuple[tuple[str, str], ...] = (
    ("service", "$JS.API.>"),
    ("service", "$JS.FC.>"),
    ("service", "$KV.>"),
    ("service", f"{EVENTS_ROOT}.>"),
    ("stream", "_INBOX.>"),
    ("stream", f"{ROOT}.cloudevents.>"),
)
"""What the shared account exports (``kind``, subject) when some account imports under it;
an import none of them covers is exported as it is."""

JS_API_INFO = "$JS.API.INFO"
"""Imported into every account of its own, whatever its user's permissions: nats-server
answers the JetStream API of an account without JetStream itself ("JetStream not enabled
for account"), racing the shared account's answers, unless the account imports
``$JS.API.INFO`` from another one. The user may still not publish it (its permissions)."""


@dataclass(frozen=True)
class Permissions:
    """Allowed publish and subscribe subjects of one NATS user, and its account: None for
    the shared account (:data:`RIPPLE_ACCOUNT`), a name for an account of its own that sees
    the shared one only through ``publish`` (service imports) and ``subscribe`` (stream
    imports) -- see the module doc."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    account: str | None = None


ADMIN_PERMISSIONS = Permissions(publish=(">",), subscribe=(">",))
"""Everything, in the shared account: for operators' tools, tests and the manager."""


@dataclass(frozen=True)
class User:
    """A nats-server user with its permissions."""

    user: str
    password: str
    permissions: Permissions = field(default=ADMIN_PERMISSIONS)


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether the literal ``subject`` is matched by ``pattern`` (NATS wildcards ``*`` and
    ``>``)."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def subjects_overlap(first: str, second: str) -> bool:
    """Whether some literal subject is matched by both patterns."""
    a, b = first.split("."), second.split(".")
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x == ">":
            return y is not None
        if y == ">":
            return x is not None
        if x is None or y is None:
            return False
        if x != "*" and y != "*" and x != y:
            return False
    return True


def _user_entry(u: User) -> str:
    perms = {
        "publish": {"allow": list(u.permissions.publish)},
        "subscribe": {"allow": list(u.permissions.subscribe)},
    }
    body = json.dumps(perms, indent=2).replace("\n", "\n      ")
    return (
        f"      {{user: {json.dumps(u.user)}, password: {json.dumps(u.password)},\n"
        f"       permissions: {body}}}"
    )


def _section(name: str, entries: list[str]) -> list[str]:
    if not entries:
        return []
    return [f"    {name}: [", *entries, "    ]"]


def subject_covers(outer: str, inner: str) -> bool:
    """Whether every subject ``inner`` matches is matched by ``outer`` too."""
    o, i = outer.split("."), inner.split(".")
    for k, token in enumerate(o):
        if token == ">":
            return len(i) > k
        if k >= len(i) or i[k] == ">" or (token != "*" and token != i[k]):
            return False
    return len(o) == len(i)


def _export(kind: str, subject: str) -> tuple[str, str]:
    for export_kind, root in EXPORTS:
        if export_kind == kind and subject_covers(root, subject):
            return export_kind, root
    return kind, subject


def authorization_block(users: Iterable[User]) -> str:
    """The nats-server ``accounts { ... }`` block of ``users`` (see the module doc)."""
    accounts: dict[str, list[User]] = {RIPPLE_ACCOUNT: []}
    for u in users:
        accounts.setdefault(u.permissions.account or RIPPLE_ACCOUNT, []).append(u)
    imports: dict[str, list[str]] = {}
    exports: dict[tuple[str, str], None] = {}  # (kind, subject), in order
    for name, members in accounts.items():
        if name == RIPPLE_ACCOUNT:
            continue
        wanted = [("service", JS_API_INFO)]
        wanted += [("service", s) for u in members for s in u.permissions.publish]
        wanted += [("stream", s) for u in members for s in u.permissions.subscribe]
        imports[name] = []
        for kind, subject in dict.fromkeys(wanted):
            imports[name].append(
                f"      {{{json.dumps(kind)}: "
                f"{{account: {json.dumps(RIPPLE_ACCOUNT)}, subject: {json.dumps(subject)}}}}}"
            )
            exports[_export(kind, subject)] = None
    out = ["accounts {"]
    for name, members in accounts.items():
        out.append(f"  {json.dumps(name)}: {{")
        if name == RIPPLE_ACCOUNT:
            out.append("    jetstream: enabled")
        out += _section("users", [_user_entry(u) for u in members])
        if name == RIPPLE_ACCOUNT:
            out += _section(
                "exports",
                [
                    f"      {{{json.dumps(kind)}: {json.dumps(subject)}}}"
                    for kind, subject in exports
                ],
            )
        else:
            out += _section("imports", imports[name])
        out.append("  }")
    return "\n".join(out) + "\n}\n"
