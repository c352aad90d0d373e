"""Kubernetes access: the only package that imports the official ``kubernetes`` client.

- :mod:`shared.kube.client` — :class:`KubeClient`, typed-less CRUD, server-side apply, list and
  raw watch streams over any kind.
- :mod:`shared.kube.discovery` — which resource serves a kind, on positive knowledge only:
  :class:`KindNotServed` when discovery answered and lacks the kind, :class:`DiscoveryFailed`
  (unknown) when it did not answer.
- :mod:`shared.kube.informer` — :class:`Informer`, one list+watch per kind with resume,
  relist on 410 Gone, backoff on failures and a local cache, delivering changes to a
  callback (``InformerEvent.not_served`` tells "not served" from "failed").
"""

from shared.kube.client import GVK, KubeClient, ObjectKey, object_key
from shared.kube.discovery import ApiResource, Discovery
from shared.kube.errors import (
    DiscoveryFailed,
    KindNotServed,
    KubeError,
    KubeNotFound,
    WatchExpired,
)
from shared.kube.informer import Informer, InformerEvent

__all__ = [
    "GVK",
    "ApiResource",
    "Discovery",
    "DiscoveryFailed",
    "Informer",
    "InformerEvent",
    "KindNotServed",
    "KubeClient",
    "KubeError",
    "KubeNotFound",
    "ObjectKey",
    "WatchExpired",
    "object_key",
]
