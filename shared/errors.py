"""Root of Ripple's error hierarchy. Every package's ``errors.py`` derives from these."""

from __future__ import annotations


class RippleError(Exception):
    """Base of every error Ripple raises on purpose."""


class InvalidInput(RippleError):
    """A user-supplied definition, file, message or value is not acceptable."""


class EngineError(RippleError):
    """An evaluation or rendering engine failed on otherwise valid input."""


class ExternalError(RippleError):
    """A dependency (NATS, a Kubernetes API server) failed or answered unexpectedly."""
