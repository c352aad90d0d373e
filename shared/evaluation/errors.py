"""Errors of the evaluation engine."""

from __future__ import annotations

from shared.errors import EngineError, InvalidInput


class LuaScriptError(EngineError):
    """A Lua script failed: syntax error, runtime error, bad result, or a budget was spent.

    ``where`` names the script (``resourceSelectors[0].evaluate`` or ``aggregatedSelection``),
    ``line`` the Lua line when known.
    """

    def __init__(
        self, where: str, message: str, line: int | None = None, compile_error: bool = False
    ) -> None:
        self.where = where
        self.message = message
        self.line = line
        self.compile_error = compile_error
        at = f" line {line}" if line is not None else ""
        super().__init__(f"{where}{at}: {message}")


class InvalidEventSource(InvalidInput):
    """An EventSource cannot be compiled (a Lua syntax error, an invalid regexp...).

    The message names the EventSource, the field and (for Lua) the line.
    """

    def __init__(self, name: str, where: str, reason: str, line: int | None = None) -> None:
        self.name = name
        self.where = where
        self.reason = reason
        self.line = line
        at = f" line {line}" if line is not None else ""
        super().__init__(f"EventSource {name!r}: {where}{at}: {reason}")
