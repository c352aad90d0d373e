"""Errors of the agent."""

from __future__ import annotations

from shared.errors import RippleError


class AgentError(RippleError):
    """Base of the agent's errors."""


class EffectFailed(AgentError):
    """An effect (apply, removal, publication) did not fully happen: its work-queue key is
    retried with backoff, and the failure shows in the agent's status."""
