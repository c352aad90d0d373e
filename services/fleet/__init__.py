"""Ripple's simulated fleet: many Kubernetes API servers in one asyncio process.

Start one with :func:`start_fleet` (inside a running loop), :func:`start_fleet_thread`
(synchronous code) or :func:`start_fleet_process` (a subprocess); see
:mod:`services.fleet.runner` and ``docs`` for the URL layout and the test hooks.
"""

from __future__ import annotations

from services.fleet.runner import (
    FleetProcess,
    FleetServer,
    FleetThread,
    cluster_info,
    load_fleet_yaml,
    serve_forever,
    start_fleet,
    start_fleet_process,
    start_fleet_thread,
)
from services.fleet.state import MANAGEMENT, ClusterInfo

Fleet = FleetServer

__all__ = [
    "MANAGEMENT",
    "ClusterInfo",
    "Fleet",
    "FleetProcess",
    "FleetServer",
    "FleetThread",
    "cluster_info",
    "load_fleet_yaml",
    "serve_forever",
    "start_fleet",
    "start_fleet_process",
    "start_fleet_thread",
]
