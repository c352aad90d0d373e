"""Kubernetes access: the only package that imports the official ``kubernetes`` client.

- :mod:`shared.kube.client` — :class:`KubeClient`, typed-less CRUD, server-side apply, list and
  raw watch streams over any kind (discovery through the DynamicClient).
- :mod:`shared.kube.informer` — :class:`Informer`, one list+watch per kind with resume,
  relist on 410 Gone and a local cache, delivering changes to a callback.
"""

from shared.kube.client import GVK, KubeClient, ObjectKey, object_key
from shared.kube.errors import KindNotServed, KubeError, KubeNotFound, WatchExpired
from shared.kube.informer import Informer, InformerEvent

__all__ = [
    "GVK",
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
