"""Errors of the service runtime."""

from __future__ import annotations

from shared.errors import InvalidInput, RippleError


class RuntimeFailure(RippleError):
    """A task of a service crashed: the service exits non-zero so a supervisor restarts it."""


class Terminal(RippleError):
    """Raised by a work-queue handler: retrying cannot help (the input itself is wrong).
    The key's failure is kept and shown until its input changes."""


class InvalidSetting(InvalidInput):
    """A setting (flag, environment variable) is not acceptable; one line for the user."""
