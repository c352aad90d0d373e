"""Server-side defaulting the clients can see (a small subset of the real defaulters).

Services get ``type: ClusterIP``, an allocated ``clusterIP``/``clusterIPs`` (from
10.96.0.0/12, per cluster; kept across updates), ``sessionAffinity: None``,
``ipFamilies``, port ``protocol: TCP`` and ``targetPort`` = ``port``, and
``status.loadBalancer: {}``.
"""

from __future__ import annotations

from typing import Any

from services.fleet.kinds import ResourceType
from services.fleet.store import ClusterStore

SERVICE_KEY = ("", "services")


def _next_ip(store: ClusterStore) -> str:
    store.ip_counter += 1
    n = store.ip_counter + 9  # 10.96.0.1-10.96.0.9 are left for well-known services
    return f"10.96.{n // 254}.{n % 254 + 1}"


def apply_defaults(
    rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, store: ClusterStore
) -> None:
    """Default ``obj`` in place (``old`` is the stored object on updates)."""
    if rt.key != SERVICE_KEY:
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    spec.setdefault("type", "ClusterIP")
    old_spec = (old or {}).get("spec") or {}
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            ip = old_spec.get("clusterIP") or _next_ip(store)
            spec["clusterIP"] = ip
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if old is None:
        obj.setdefault("status", {"loadBalancer": {}})
