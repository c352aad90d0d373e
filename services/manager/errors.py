"""Errors of the manager."""

from __future__ import annotations

from shared.errors import EngineError, ExternalError, InvalidInput, RippleError


class ManagerError(RippleError):
    """Base of the manager's errors."""


class InstantiationError(ManagerError, EngineError):
    """An add-on could not be instantiated for an event (template, missing reference...)."""


class DefinitionProblem(ManagerError, InvalidInput):
    """A definition in the management cluster cannot be used as it is."""


class PublishFailed(ManagerError, ExternalError):
    """A put or delete of one of the manager's KV keys failed (retried with backoff)."""
