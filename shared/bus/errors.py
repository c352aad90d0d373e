"""Errors of the NATS adapters."""

from __future__ import annotations

from shared.errors import ExternalError


class BusError(ExternalError):
    """NATS (or the embedded nats-server) failed or answered unexpectedly."""
