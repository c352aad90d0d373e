"""The manager's shard settings (a mixin of :class:`~services.manager.settings.ManagerSettings`:
``--shards``, ``--shard-group``, ``--shard-id``, ``--shard-key``, ``--shard-ttl``)."""

from __future__ import annotations

import os
import socket

from pydantic import BaseModel, Field

from services.manager.sharding import Member, member_token


class ShardSettings(BaseModel):
    shards: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "1: this manager owns every cluster (no membership traffic). More: it is one of "
            "the shards of --shard-group, which split the source clusters between the live "
            "members through NATS KV ripple-shards (rendezvous hashing; a member joining or "
            "leaving rebalances without withdrawing anything); the figure is the group's "
            "expected size (metric ripple_manager_shard_members: the live one)."
        ),
    )
    shard_group: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The group of shards this manager belongs to (one NATS key token).",
    )
    shard_id: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_-]{0,120}$",
        description="This member's id in its group (default: HOSTNAME-PID).",
    )
    shard_key: str = Field(
        "",
        description=(
            "Sveltos' shard key: this manager owns the clusters annotated "
            "sharding.projectsveltos.io/key with this value (rendezvous among the members "
            "with the same key); without one, the clusters without the annotation."
        ),
    )
    shard_ttl: float = Field(
        6.0,
        ge=0.3,
        le=600,
        description=(
            "Seconds after which a member that did not renew its key is gone (each member "
            "renews every ttl/3; a clean stop leaves at once)."
        ),
    )

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    def member(self) -> Member:
        """This manager as a member of its group."""
        ident = self.shard_id or member_token(f"{socket.gethostname()}-{os.getpid()}")
        return Member(ident, self.shard_key)
