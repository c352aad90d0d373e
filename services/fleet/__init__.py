"""Ripple's simulated fleet: many Kubernetes API servers in one asyncio process.

Start one with :func:`start_fleet` (inside a running loop), :func:`start_fleet_thread`
(synchronous code) or :func:`start_fleet_process` (a subprocess); see
:mod:`services.fleet.runner` and :mod:`services.fleet.background` and ``docs`` for the URL layout and the test hooks.
"""

from __future__ import annotations

from services.fleet.background import (
    FleetProcess,
    FleetThread,
    start_fleet_process,
    start_fleet_thread,
)
from services.fleet.handle import FleetHandle, cluster_info, load_fleet_yaml
from services.fleet.runner import FleetServer, serve_forever, start_fleet
from services.fleet.state import MANAGEMENT, ClusterInfo

Fleet = FleetServer

__all__ = [
    "MANAGEMENT",
    "ClusterInfo",
    "Fleet",
    "FleetHandle",
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
