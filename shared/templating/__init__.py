"""Template engine: Go text/template (+ sprig and the Sveltos functions) and a Jinja2 flavour.

Public API::

    compile_template(text, *, name="tpl", funcs="sveltos", missingkey="error",
                     delims=("{{", "}}"), extra=(), txt=False) -> CompiledTemplate  # cached
    CompiledTemplate.render(data, *, exec_name=None) -> str
    render_event_template(text, data, *, flavour="go" | "jinja", name="tpl") -> str
    flavour_of(annotations) -> "go" | "jinja"     # annotation ripple.io/template-flavour

Errors: ``shared.templating.errors`` (TemplateSyntaxError, TemplateExecError,
TemplateLimitError, FunctionError; all TemplateError).

Budgets: every render has a wall-clock and memory budget (``Limits.max_seconds``,
``Limits.max_memory``) charged by the engine and the costly functions
(:mod:`shared.templating.budget`); ``budget_refusals()`` counts refused renders per bound.
"""

from shared.templating.budget import refusals as budget_refusals
from shared.templating.engine import CompiledTemplate, Limits, cache_info, compile_template
from shared.templating.errors import (
    FunctionError,
    TemplateError,
    TemplateExecError,
    TemplateLimitError,
    TemplateSyntaxError,
)
from shared.templating.events import (
    FLAVOUR_ANNOTATION,
    event_data,
    flavour_of,
    render_event_template,
)

__all__ = [
    "FLAVOUR_ANNOTATION",
    "CompiledTemplate",
    "FunctionError",
    "Limits",
    "TemplateError",
    "TemplateExecError",
    "TemplateLimitError",
    "TemplateSyntaxError",
    "budget_refusals",
    "cache_info",
    "compile_template",
    "event_data",
    "flavour_of",
    "render_event_template",
]
