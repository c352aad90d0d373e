"""Errors of the scenario runner."""

from __future__ import annotations

from shared.errors import ExternalError, InvalidInput


class ScenarioError(InvalidInput):
    """A scenario folder, its ``steps.yaml``, ``fleet.yaml`` or a referenced file is invalid.

    The message names the file and, for steps, the step number (1-based) and the field.
    """


class StackError(ExternalError):
    """The stack (nats-server, simulated fleet, services) could not be brought up or used.

    ``logs`` holds the tail of the relevant process logs, ready to print.
    """

    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n{self.logs}" if self.logs else base
