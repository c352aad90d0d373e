"""Static checks of definitions: Lua, CEL and templates compiled without running them.

Public API::

    from shared.checks import check_definition, Problem
    problems = check_definition(obj)        # an EventSource/trigger as a dict; never raises
    problems[0].field, .message, .severity ("error" | "warning"), .line (inside the text)

    from shared.checks import compilers
    compilers.lua(code) / cel(rule) / go_template(text, funcs) / jinja_template(text)
        / go_regexp(pattern)                # -> None, or Failure(message, line); cached
    from shared.checks.datakeys import missing_keys   # root keys a template reads, not in its data
    from shared.checks.references import references, check_reference   # ConfigMaps it renders

``error``: the definition cannot work as written (the manager refuses it, keeping the last
valid version; ``ripple lint`` fails the file). ``warning``: it works, with the problem shown
(status, lint). Used by ``ripple lint`` and the manager (services.manager.definitions).
"""

from __future__ import annotations

from shared.checks import compilers
from shared.checks.definitions import check_definition, errors, warnings
from shared.checks.problems import Problem

__all__ = ["Problem", "check_definition", "compilers", "errors", "warnings"]
