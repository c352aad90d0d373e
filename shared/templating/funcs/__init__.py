"""The template function library: sprig v3.3.0 and the Sveltos functions.

``function_map(name)`` returns the non-builtin functions of a set:

* ``builtin``: none (``eq``, ``len``, ``index``, ``printf`` ... are the engine's);
* ``sprig``: sprig's FuncMap without ``env``, ``expandenv`` and ``getHostByName``
  (absent on purpose: templates cannot read the environment or the network, BRIEF 4);
* ``sveltos``: sprig + libsveltos (toYaml, fromYaml, fromYamlArray, toJson, fromJson,
  fromJsonArray, toToml, fromToml) + event-manager (getResource, copy, getField, setField,
  removeField, chainSetField, chainRemoveField);
* ``sveltos-addon``: sprig + libsveltos + addon-controller's helpers, which name a
  management-cluster resource by its identifier in the data's ``MgmtResources``.

Functions are plain callables taking Go values positionally; a Go error return or an
argument of the wrong Go type raises :class:`~shared.templating.errors.FunctionError`.
Those with ``needs_context = True`` take the executor's TemplateContext first; the
addon helpers read the root data from it (``ctx.root_data``, else ``$`` of the state).
sprig's TxtFuncMap and FuncMap hold the same functions, so ``txt`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from shared.templating.budget import traverses
from shared.templating.funcs.conversion import CONVERSION_FUNCS
from shared.templating.funcs.crypto import CRYPTO_FUNCS
from shared.templating.funcs.dates import DATE_FUNCS
from shared.templating.funcs.defaults import DEFAULT_FUNCS
from shared.templating.funcs.dicts import DICT_FUNCS
from shared.templating.funcs.encoding import ENCODING_FUNCS
from shared.templating.funcs.lists import LIST_FUNCS
from shared.templating.funcs.maths import MATH_FUNCS
from shared.templating.funcs.paths import PATH_FUNCS
from shared.templating.funcs.regex import REGEX_FUNCS
from shared.templating.funcs.semver import SEMVER_FUNCS
from shared.templating.funcs.strings import STRING_FUNCS
from shared.templating.funcs.sveltos import ADDON_FUNCS, EVENT_MANAGER_FUNCS, LIBSVELTOS_FUNCS
from shared.templating.funcs.textcase import TEXTCASE_FUNCS

__all__ = ["ABSENT_ON_PURPOSE", "TRAVERSING", "FuncSetName", "function_map"]

FuncSetName = Literal["builtin", "sprig", "sveltos", "sveltos-addon"]

#: sprig functions Ripple leaves out on purpose (BRIEF section 4)
ABSENT_ON_PURPOSE = ("env", "expandenv", "getHostByName")


#: functions whose work follows the whole depth of their arguments (serialising, printing,
#: copying, comparing): the engine measures their arguments' expanded size first
#: (:func:`shared.templating.budget.traverses`)
TRAVERSING = frozenset(
    {
        "toJson", "mustToJson", "toPrettyJson", "mustToPrettyJson", "toRawJson",
        "mustToRawJson", "toYaml", "toToml", "toString", "toStrings", "cat", "quote",
        "squote", "join", "sortAlpha", "deepCopy", "mustDeepCopy", "merge", "mustMerge",
        "mergeOverwrite", "mustMergeOverwrite", "deepEqual", "uniq", "mustUniq", "has",
        "mustHas", "without", "mustWithout", "copy", "getResource", "getField", "setField",
        "removeField", "chainSetField", "chainRemoveField", "fail",
    }
)  # fmt: skip


def _mark_traversing(funcs: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    for name in TRAVERSING & set(funcs):
        traverses(funcs[name])
    return funcs


def _sprig() -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    for family in (
        STRING_FUNCS,
        TEXTCASE_FUNCS,
        LIST_FUNCS,
        DICT_FUNCS,
        DEFAULT_FUNCS,
        MATH_FUNCS,
        CONVERSION_FUNCS,
        ENCODING_FUNCS,
        CRYPTO_FUNCS,
        SEMVER_FUNCS,
        REGEX_FUNCS,
        DATE_FUNCS,
        PATH_FUNCS,
    ):
        out.update(family)
    for name in ABSENT_ON_PURPOSE:
        out.pop(name, None)
    return _mark_traversing(out)


def function_map(name: FuncSetName, *, txt: bool = False) -> dict[str, Callable[..., Any]]:
    """The non-builtin functions of the named set (a new dict each call)."""
    del txt  # sprig's TxtFuncMap and FuncMap are the same map
    if name == "builtin":
        return {}
    funcs = _sprig()
    if name == "sprig":
        return funcs
    funcs.update(LIBSVELTOS_FUNCS)
    if name == "sveltos":
        funcs.update(EVENT_MANAGER_FUNCS)
    elif name == "sveltos-addon":
        funcs.update(ADDON_FUNCS)
    else:
        raise ValueError(f"unknown function set {name!r}")
    return _mark_traversing(funcs)
