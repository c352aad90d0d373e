"""How a :class:`~shared.kube.client.KubeClient` reaches its cluster: the official client's
``ApiClient`` from a kubeconfig (or the in-cluster configuration), with its credential refresh
hook run at most once per :data:`REFRESH_INTERVAL`.

A kubeconfig that cannot be read is one :class:`~shared.kube.errors.KubeConfigInvalid`
naming it, never an exception from inside the client.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from shared.kube.errors import KubeConfigInvalid

REFRESH_INTERVAL = 10.0
"""Seconds between two runs of the official client's credential refresh hook."""


def _throttle_refresh(configuration: Any, interval: float = REFRESH_INTERVAL) -> None:
    """Run the official client's ``refresh_api_key_hook`` at most once per ``interval``.

    For a kubeconfig with a token the hook runs before *every* request and copies the whole
    configuration again (its host setter walks the proxy environment): about a tenth of a
    busy writer's CPU. A token with an expiry is renewed 5 minutes before it lapses (the
    client's own margin), an in-cluster token is re-read every minute: looking every
    ``interval`` seconds keeps both."""
    if configuration.refresh_api_key_hook is None:
        return
    lock = threading.Lock()
    hook = [configuration.refresh_api_key_hook]
    last = [time.monotonic()]  # the credentials were just loaded

    def throttled(config: Any) -> None:
        now = time.monotonic()
        if now - last[0] < interval:
            return
        with lock:
            if now - last[0] < interval:
                return
            try:
                hook[0](config)
                last[0] = time.monotonic()
            finally:  # the kubeconfig loader's hook installs itself again: keep its newest
                installed = config.refresh_api_key_hook
                if installed is not None and installed is not throttled:
                    hook[0] = installed
                config.refresh_api_key_hook = throttled

    configuration.refresh_api_key_hook = throttled


def api_client(
    kubeconfig: str | None, context: str | None = None, refresh_interval: float = REFRESH_INTERVAL
) -> Any:
    """The official client's ``ApiClient`` for ``kubeconfig`` (None or "": in-cluster)."""
    try:
        if kubeconfig:
            api = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
        else:
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)
            api = k8s_client.ApiClient(configuration)
    except (k8s_config.ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        where = f"kubeconfig {kubeconfig}" if kubeconfig else "in-cluster configuration"
        raise KubeConfigInvalid(f"cannot read the {where}: {exc}") from exc
    _throttle_refresh(api.configuration, refresh_interval)
    return api


__all__ = ["REFRESH_INTERVAL", "api_client"]
