"""Errors of the template engine (Go text/template port and the Jinja2 flavour).

Messages follow Go's wording so that users can compare them with Sveltos' logs:
``template: tpl:1:5: executing "tpl" at <.x>: map has no entry for key "x"``.
"""

from __future__ import annotations

from shared.errors import EngineError, InvalidInput


class TemplateError(EngineError):
    """Base of every template error; ``str(err)`` is the Go-style message."""


class TemplateSyntaxError(TemplateError):
    """The template text does not parse (``template: tpl:3: unexpected "}" in operand``)."""


class TemplateExecError(TemplateError):
    """Execution failed; ``partial_output`` is what was written before the failure."""

    def __init__(self, message: str, partial_output: str = "") -> None:
        super().__init__(message)
        self.partial_output = partial_output


class FunctionError(TemplateError):
    """Raised by a template function for a Go error return or an argument type mismatch.

    The executor wraps it as ``error calling <fn>: <message>`` with the template position.
    """


class TemplateLimitError(TemplateError):
    """A bound against hostile templates was exceeded; ``kind`` says which: ``output``
    (size), ``size`` (one value), ``iterations``, ``depth``, ``time``, ``memory``,
    ``arithmetic`` (Jinja numbers and sequences), or ``limit``."""

    def __init__(self, message: str, partial_output: str = "", *, kind: str = "limit") -> None:
        super().__init__(message)
        self.partial_output = partial_output
        self.kind = kind


class TemplateOptionError(TemplateError, InvalidInput):
    """An option of the template is not one Go's text/template knows
    (``unrecognized option: missingkey=bogus``): bad input, not an engine failure."""
