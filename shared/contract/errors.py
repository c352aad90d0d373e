"""Errors of the NATS contract: malformed subjects/keys and malformed messages."""

from __future__ import annotations

from shared.errors import InvalidInput


class InvalidSubject(InvalidInput):
    """A NATS subject, KV key or token does not follow the contract's grammar."""


class InvalidMessage(InvalidInput):
    """A message is not a valid envelope of the expected type (bad JSON, wrong envelope,
    unknown or unexpected type, invalid data, oversized payload)."""
