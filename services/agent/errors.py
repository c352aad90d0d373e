"""Errors of the agent."""

from __future__ import annotations

from shared.errors import RippleError


class AgentError(RippleError):
    """Base of the agent's errors."""
