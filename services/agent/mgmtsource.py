"""``ripple agent-host --from-management``: the clusters registered in the management cluster
(its SveltosClusters and CAPI Clusters), their kubeconfigs read from the Secrets as Sveltos
references them, each agent's NATS credentials from a Secret of its own.

- a SveltosCluster's kubeconfig: the Secret ``spec.kubeconfigName`` (default
  ``<name>-sveltos-kubeconfig``) in its namespace, key ``spec.kubeconfigKeyName``; with no
  key named, the Secret's only key (several: ``kubeconfig``, then ``value``, then the first
  in order -- Sveltos takes any one). A SveltosCluster in ``pullMode`` is skipped (its agent
  runs in the managed cluster); one with ``workloadIdentity`` is an error (not supported);
- a CAPI Cluster's kubeconfig: the Secret ``<name>-kubeconfig``, key ``value``;
- the agent's NATS user and password: the Secret ``<name><--nats-secret-suffix>`` (default
  ``<name>-ripple-nats``) in the cluster's namespace, keys ``user`` and ``password``. Without
  that Secret the host's own NATS credentials are used (a deployment without authorization);
  a Secret missing one of the keys is an error of that cluster.

Three informers (SveltosClusters, CAPI Clusters, Secrets) keep what the host reads; each look
builds the list from their caches. While one is not listed or failing, nothing changes (the
agents running keep running); a kind the management cluster does not serve (no CAPI) lists no
cluster of it. Kubeconfigs are written, mode 0600, to a private directory of the host.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from services.agent import hostfile
from services.agent.hosting import Config, config_of
from services.agent.hostsettings import HostSettings
from shared.api.vocabulary import CAPI_CLUSTER, SECRET, SVELTOS_CLUSTER
from shared.kube import GVK, Informer, InformerEvent, KubeClient

KINDS: tuple[tuple[GVK, str], ...] = ((SVELTOS_CLUSTER, "sveltos"), (CAPI_CLUSTER, "capi"))
PREFERRED_KEYS = ("kubeconfig", "value")


def _decode(secret: dict[str, Any], key: str) -> bytes | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return None
    return base64.b64decode(raw)


def kubeconfig_ref(obj: dict[str, Any], type_: str) -> tuple[str, str]:
    """The Secret name and key (``""``: any) holding a registered cluster's kubeconfig."""
    name = obj["metadata"]["name"]
    if type_ == "capi":
        return f"{name}-kubeconfig", "value"
    spec = obj.get("spec") or {}
    return spec.get("kubeconfigName") or f"{name}-sveltos-kubeconfig", spec.get(
        "kubeconfigKeyName"
    ) or ""


def pick_key(data: dict[str, Any]) -> str | None:
    """The key of a kubeconfig Secret naming none (see the module's docstring)."""
    if not data:
        return None
    if len(data) == 1:
        return next(iter(data))
    for key in PREFERRED_KEYS:
        if key in data:
            return key
    return sorted(data)[0]


class ManagementSource:
    """The registered clusters (see the module's docstring)."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        self.name = "management cluster"
        self.dir = Path(tempfile.mkdtemp(prefix="ripple-agent-host-"))
        os.chmod(self.dir, 0o700)
        self.informers: dict[GVK, Informer] = {}
        self._written: dict[str, str] = {}  # path -> digest of what was written
        self._digests: dict[str, str] = {}  # cluster key -> kubeconfig digest

    def _start(self) -> None:
        kube = KubeClient(self.settings.kubeconfig, name="management")
        for gvk in (SVELTOS_CLUSTER, CAPI_CLUSTER, SECRET):
            informer = Informer(kube, gvk, _ignore)
            self.informers[gvk] = informer
            informer.start()

    async def read(self) -> hostfile.Parsed | None:
        if not self.informers:
            try:
                await asyncio.to_thread(self._start)
            except Exception as exc:  # a management kubeconfig that cannot be read
                return hostfile.Parsed(errors=[f"{self.name}: {exc}"], failed=True)
        for gvk, informer in self.informers.items():
            if informer.not_served and gvk != SECRET:
                continue  # positive knowledge: no cluster of this kind
            if not informer.synced or informer.error:
                if informer.error:
                    return hostfile.Parsed(
                        errors=[f"{self.name}: list/watch of {gvk} failed: {informer.error}"],
                        failed=True,
                    )
                return None  # not listed yet: nothing changes
        return await asyncio.to_thread(self._build)

    def _build(self) -> hostfile.Parsed:
        cached = self.informers[SECRET].cache.copy()  # one C call: atomic under the GIL
        secrets = {_where(obj): obj for obj in cached.values()}
        out = hostfile.Parsed()
        for gvk, type_ in KINDS:
            informer = self.informers[gvk]
            for obj in informer.cache.copy().values():
                self._add(out, obj, type_, secrets)
        return out

    def _add(
        self,
        out: hostfile.Parsed,
        obj: dict[str, Any],
        type_: str,
        secrets: dict[tuple[str, str], Any],
    ) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        key = f"{type_}:{namespace}/{name}"
        where = (
            f"{self.name}: {'Cluster' if type_ == 'capi' else 'SveltosCluster'} {namespace}/{name}"
        )
        spec = obj.get("spec") or {}
        if type_ == "sveltos" and spec.get("pullMode"):
            return  # its agent runs in the managed cluster
        if type_ == "sveltos" and spec.get("workloadIdentity"):
            out.errors.append(f"{where}: workloadIdentity is not supported (no kubeconfig)")
            out.invalid.add(key)
            return
        secret_name, secret_key = kubeconfig_ref(obj, type_)
        secret = _secret(secrets, namespace, secret_name)
        if secret is None:
            out.errors.append(f"{where}: kubeconfig Secret {namespace}/{secret_name} not found")
            out.invalid.add(key)
            return
        secret_key = secret_key or pick_key(secret.get("data") or {}) or ""
        content = _decode(secret, secret_key) if secret_key else None
        if content is None:
            out.errors.append(
                f"{where}: Secret {namespace}/{secret_name} has no key {secret_key or '(none)'}"
            )
            out.invalid.add(key)
            return
        raw: dict[str, Any] = {"cluster": f"{namespace}/{name}", "type": type_}
        creds = _secret(secrets, namespace, f"{name}{self.settings.nats_secret_suffix}")
        if creds is not None:
            user, password = _decode(creds, "user"), _decode(creds, "password")
            if user is None or password is None:
                out.errors.append(
                    f"{where}: Secret {namespace}/{name}{self.settings.nats_secret_suffix} "
                    "needs the keys user and password"
                )
                out.invalid.add(key)
                return
            raw["natsUser"] = user.decode().strip()
            raw["natsPassword"] = password.decode().strip()
        raw["kubeconfig"] = self._write(key, content)
        entry, error = hostfile.parse_entry(raw, where)
        if entry is None:
            out.errors.append(error)
            out.invalid.add(key)
            return
        out.entries[entry.key] = entry

    def _write(self, key: str, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        safe = key.replace("/", "--").replace(":", "-")
        path = str(self.dir / f"{safe}.kubeconfig")
        if self._written.get(path) != digest:
            fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.replace(path + ".tmp", path)
            self._written[path] = digest
        self._digests[key] = digest
        return path

    def config(self, entry: hostfile.ClusterEntry) -> Config:
        return config_of(entry, self._digests.get(entry.key))


def _where(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _secret(
    secrets: dict[tuple[str, str], Any], namespace: str, name: str
) -> dict[str, Any] | None:
    found = secrets.get((namespace, name))
    return dict(found) if found is not None else None


def _ignore(event: InformerEvent) -> None:
    """The informers' caches are read at each look; their events need nothing."""


__all__ = ["ManagementSource", "kubeconfig_ref", "pick_key"]
