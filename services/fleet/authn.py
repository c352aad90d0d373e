"""Authentication: who a request is.

A cluster of the fleet knows three kinds of bearer tokens, as a real cluster does:

- the fleet's admin token (the kubeconfigs' token): user ``kubernetes-admin`` in group
  ``system:masters``, allowed everything on every cluster;
- static users declared in the fleet configuration (``users: [{name, token, groups}]``), valid
  on every cluster of the fleet, like a kube-apiserver ``--token-auth-file``;
- ServiceAccount tokens issued by the TokenRequest API
  (``POST .../serviceaccounts/NAME/token``): JWTs signed with the fleet's secret (HS256), valid
  only on the cluster that issued them, until their expiration, and while the ServiceAccount
  (same uid) exists. They identify ``system:serviceaccount:NS:NAME`` in the groups
  ``system:serviceaccounts``, ``system:serviceaccounts:NS`` and ``system:authenticated``.

Every identity except the admin is authorized with RBAC (:mod:`services.fleet.access`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.fleet.errors import FleetConfigError

ADMIN_USER = "kubernetes-admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"
ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600


@dataclass(frozen=True)
class Identity:
    """An authenticated user: name, groups, and how it is authorized."""

    user: str
    groups: tuple[str, ...] = (AUTHENTICATED,)
    #: always authorized with RBAC (a non-admin token); otherwise only when the cluster
    #: enforces RBAC (impersonation by the admin, ``--rbac``)
    rbac: bool = True

    @property
    def admin(self) -> bool:
        """In ``system:masters``: every request is allowed (the real authorizer's bypass)."""
        return MASTERS in self.groups


ADMIN = Identity(ADMIN_USER, (MASTERS, AUTHENTICATED), rbac=False)


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)


def split_service_account(user: str) -> tuple[str, str] | None:
    """``system:serviceaccount:NS:NAME`` -> (NS, NAME)."""
    if not user.startswith(SA_PREFIX):
        return None
    ns, sep, name = user[len(SA_PREFIX) :].partition(":")
    return (ns, name) if sep and ns and name else None


def with_authenticated(groups: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(groups))
    return out if AUTHENTICATED in out else (*out, AUTHENTICATED)


def parse_users(entries: object, admin_token: str = "") -> dict[str, Identity]:
    """``users: [{name, token, groups}]`` of a fleet configuration -> token -> Identity."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise FleetConfigError("users: expected a list of {name, token, groups}")
    out: dict[str, Identity] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping) or not e.get("name") or not e.get("token"):
            raise FleetConfigError(f"users[{i}]: name and token are required")
        token, name = str(e["token"]), str(e["name"])
        groups = e.get("groups") or []
        if not isinstance(groups, list):
            raise FleetConfigError(f"users[{i}] ({name}): groups must be a list")
        if token in out or token == admin_token:
            raise FleetConfigError(f"users[{i}] ({name}): token already used")
        out[token] = Identity(name, with_authenticated(str(g) for g in groups), rbac=True)
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEADER = _b64(json.dumps({"alg": "HS256", "kid": "ripple-fleet"}).encode())


class TokenIssuer:
    """Signs and verifies ServiceAccount tokens (stateless: nothing is kept per token)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self.secret, signing_input.encode(), hashlib.sha256).digest())

    def issue(
        self,
        cluster: str,
        namespace: str,
        name: str,
        uid: str,
        seconds: int = DEFAULT_TOKEN_SECONDS,
        audiences: list[str] | None = None,
        now: float | None = None,
    ) -> tuple[str, int]:
        """-> (token, expiration as Unix seconds)."""
        iat = int(now if now is not None else time.time())
        exp = iat + seconds
        claims = {
            "aud": audiences or [ISSUER],
            "exp": exp,
            "iat": iat,
            "nbf": iat,
            "iss": ISSUER,
            "sub": f"{SA_PREFIX}{namespace}:{name}",
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": uid},
            },
            "ripple.dev/cluster": cluster,
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{_HEADER}.{payload}"
        return f"{signing_input}.{self._sign(signing_input)}", exp

    def verify(self, token: str, cluster: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token issued by ``cluster``; None otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        if not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("ripple.dev/cluster") != cluster:
            return None
        if int(claims.get("exp", 0)) <= time.time():
            return None
        return claims
