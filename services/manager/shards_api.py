"""REST ``GET /v1/shards``: this manager's shard, its group's live members and the owner of
every registered cluster (:mod:`services.manager.sharding`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter, params

from services.manager.apidocs import unauthorized
from services.manager.apimodels import ShardMemberOut, ShardsOut
from services.manager.snapshot import Snapshot


def router(snapshot: Callable[[], Snapshot], dependencies: Sequence[params.Depends]) -> APIRouter:
    """The shards endpoint, reading ``snapshot()`` (guarded by ``dependencies``)."""
    api = APIRouter(dependencies=list(dependencies))

    @api.get("/v1/shards", response_model=ShardsOut, responses=unauthorized(list(dependencies)))
    async def shards() -> ShardsOut:
        """Manager shards: this shard, its group's live members, who owns each cluster
        (``sharded`` false: this manager owns every cluster)."""
        view = snapshot().shards
        if not view:
            return ShardsOut(sharded=False, me="", shard_key="", known=True, members=[],
                             rebalances=0, owners={})  # fmt: skip
        members = [ShardMemberOut(id=m["id"], shard_key=m["shardKey"]) for m in view["members"]]
        return ShardsOut(sharded=True, me=view["me"], shard_key=view["shardKey"],
                         known=view["known"], members=members, rebalances=view["rebalances"],
                         owners=dict(view["owners"]))  # fmt: skip

    return api
