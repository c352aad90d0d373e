"""The NATS users of one deployment, with generated passwords: ``admin`` (everything; tools
and tests), ``manager``, ``reporter`` and one user per managed cluster's agent, each with the
permissions of :mod:`shared.contract.permissions`.

    creds = NatsCredentials.generate([ClusterRef(namespace="default", name="cluster-a")])
    EmbeddedNats(extra_config=creds.authorization_block())
    env = creds.env(creds.agent(cluster), "nats://127.0.0.1:4222")  # RIPPLE_NATS_* variables
    creds.write(state_dir / "nats" / "credentials.json", url)      # mode 0600

A service receives its credentials through the environment (never argv, which every local
user can read): ``RIPPLE_NATS_URL`` (no credentials inside), ``RIPPLE_NATS_USER`` and
``RIPPLE_NATS_PASSWORD`` (or ``RIPPLE_NATS_CREDS``, the path of a NATS ``.creds`` file).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from services.scenario.commands import agent_name
from services.scenario.model import Fleet, FleetCluster
from shared.contract import permissions as p
from shared.contract.subjects import ClusterRef

URL_ENV = "RIPPLE_NATS_URL"
USER_ENV = "RIPPLE_NATS_USER"
PASSWORD_ENV = "RIPPLE_NATS_PASSWORD"
CREDS_ENV = "RIPPLE_NATS_CREDS"

ADMIN = "admin"
MANAGER = "manager"
REPORTER = "reporter"

Role = Literal["admin", "manager", "reporter", "agent"]


def new_password() -> str:
    """32 URL-safe random characters (192 bits)."""
    return secrets.token_urlsafe(24)


def url_with(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` (percent-encoded) in front of its host."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def url_without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class Credential:
    """One NATS user: its name, password, role and (for an agent) cluster."""

    user: str
    password: str
    role: Role
    cluster: ClusterRef | None = None

    def permissions(self) -> p.Permissions:
        if self.role == "agent":
            assert self.cluster is not None
            return p.agent_permissions(self.cluster)
        if self.role == "reporter":
            return p.reporter_permissions()
        if self.role == "manager":
            return p.manager_permissions()
        return p.ADMIN_PERMISSIONS

    def env(self, url: str) -> dict[str, str]:
        """The environment a service connects with: URL (without credentials), user,
        password."""
        return {
            URL_ENV: url_without_credentials(url),
            USER_ENV: self.user,
            PASSWORD_ENV: self.password,
        }

    def url(self, url: str) -> str:
        """``url`` with this user's credentials inside (for tools: nats-py accepts it)."""
        return url_with(url, self.user, self.password)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user": self.user, "password": self.password, "role": self.role}
        if self.cluster is not None:
            out["cluster"] = self.cluster.model_dump(mode="json")
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Credential:
        cluster = data.get("cluster")
        return cls(
            user=str(data["user"]),
            password=str(data["password"]),
            role=data["role"],
            cluster=ClusterRef.model_validate(cluster) if cluster else None,
        )


@dataclass(frozen=True)
class NatsCredentials:
    """Every user of one deployment (see the module doc)."""

    users: tuple[Credential, ...]

    @classmethod
    def generate(
        cls, clusters: Iterable[ClusterRef], *, keep: NatsCredentials | None = None
    ) -> NatsCredentials:
        """admin, manager, reporter and one agent user per cluster, with new random passwords
        (or the passwords of ``keep`` for the users it already has)."""
        old = {c.user: c.password for c in keep.users} if keep is not None else {}

        def make(user: str, role: Role, cluster: ClusterRef | None = None) -> Credential:
            return Credential(user, old.get(user) or new_password(), role, cluster)

        users = [make(ADMIN, "admin"), make(MANAGER, "manager"), make(REPORTER, "reporter")]
        seen: set[str] = set()
        for cluster in clusters:
            name = p.agent_user(cluster)
            if name not in seen:
                seen.add(name)
                users.append(make(name, "agent", cluster))
        return cls(tuple(users))

    def user(self, name: str) -> Credential:
        for cred in self.users:
            if cred.user == name:
                return cred
        raise KeyError(f"no NATS user {name!r} (known: {', '.join(c.user for c in self.users)})")

    @property
    def admin(self) -> Credential:
        return self.user(ADMIN)

    @property
    def manager(self) -> Credential:
        return self.user(MANAGER)

    @property
    def reporter(self) -> Credential:
        return self.user(REPORTER)

    def agent(self, cluster: ClusterRef) -> Credential:
        return self.user(p.agent_user(cluster))

    def authorization_block(self) -> str:
        """The nats-server ``authorization`` block of every user."""
        return p.authorization_block(
            p.User(c.user, c.password, c.permissions()) for c in self.users
        )

    def to_json(self, url: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if url is not None:
            out["url"] = url_without_credentials(url)
            out["admin_url"] = self.admin.url(url)
        out["users"] = [c.to_json() for c in self.users]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NatsCredentials:
        return cls(tuple(Credential.from_json(u) for u in data["users"]))

    def write(self, path: Path, url: str | None = None) -> Path:
        """Write them as JSON (``url``, ``admin_url``, ``users``), readable by the owner
        only."""
        write_private(path, json.dumps(self.to_json(url), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, path: Path) -> NatsCredentials:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (also when the file already exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def cluster_ref(cluster: FleetCluster) -> ClusterRef:
    """The contract's :class:`ClusterRef` of a fleet entry."""
    return ClusterRef(namespace=cluster.namespace, name=cluster.name, type=cluster.type)


def service_env(
    credentials: NatsCredentials | None, fleet: Fleet, url: str
) -> dict[str, dict[str, str]]:
    """The NATS environment of a stack's services (manager, reporter and one agent per
    cluster, by process name): nothing when ``credentials`` is None."""
    if credentials is None:
        return {}
    out = {
        "manager": credentials.manager.env(url),
        "reporter": credentials.reporter.env(url),
    }
    for cluster in fleet.clusters:
        out[agent_name(cluster.ref)] = credentials.agent(cluster_ref(cluster)).env(url)
    return out
