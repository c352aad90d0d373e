"""Where an agent host finds its clusters: a file (``--clusters FILE``), looked at every
``--poll-interval`` seconds and parsed again when it changed, or the management cluster
(``--from-management``: :mod:`services.agent.mgmtsource`).

A source answers :meth:`FileSource.read` with a :class:`~services.agent.hostfile.Parsed`
when what it lists changed, or ``None`` when it did not. A file that cannot be read is an
error of the file (``failed``): the host keeps what it runs.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from services.agent import hostfile
from services.agent.hosting import Config, config_of, file_identity

log = logging.getLogger(__name__)


class Source(Protocol):
    name: str

    async def read(self) -> hostfile.Parsed | None: ...

    def config(self, entry: hostfile.ClusterEntry) -> Config: ...


class FileSource:
    """The clusters file: stat on every look, parsed (off the loop) when it changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self._identity: str | None = None

    async def read(self) -> hostfile.Parsed | None:
        identity = file_identity(str(self.path))
        if identity == self._identity:
            return None
        self._identity = identity
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            return hostfile.Parsed(errors=[f"{self.path}: cannot read: {reason}"], failed=True)
        return await asyncio.to_thread(hostfile.parse, text, str(self.path), str(self.path.parent))

    def config(self, entry: hostfile.ClusterEntry) -> Config:
        return config_of(entry)


__all__ = ["FileSource", "Source"]
