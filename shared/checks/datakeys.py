"""Which top-level keys of the template data a template reads, against what it will get.

The data of an instance depends on ``oneForEvent`` (sveltos-semantics 4.6): ``true`` gives
``.MatchingResource .Resource .CloudEvent .Cluster``, ``false`` gives ``.MatchingResources
.Resources .CloudEvents .Cluster``; Sveltos' docs say the singular with ``false``, or the
plural with ``true``, is a render error, and so it is here (missingkey=error). Other data:
``eventSourceName`` (``.Cluster .ClusterNamespace .ClusterName``) and the second pass of
content annotated ``projectsveltos.io/template`` (``.Cluster .MgmtResources``).

:func:`go_root_fields` walks the parsed template for the fields read from the root: ``.X``
outside ``range``/``with`` bodies (where dot is rebound) and ``$.X`` anywhere.
:func:`jinja_root_names` gives the undeclared variables of a Jinja2 template (its data keys),
less the environment's globals. Reading a key that is not in the data is a warning (it may
sit in a branch never taken), cached by text like the other checks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from jinja2 import meta

from shared.templating import nodes as N
from shared.templating.builtins import BUILTINS
from shared.templating.engine import function_set
from shared.templating.errors import TemplateError
from shared.templating.jinja import jinja_environment
from shared.templating.parser import parse

ONE_FOR_EVENT_KEYS = ("MatchingResource", "Resource", "CloudEvent", "Cluster")
ALL_RESOURCES_KEYS = ("MatchingResources", "Resources", "CloudEvents", "Cluster")
EVENT_SOURCE_NAME_KEYS = ("Cluster", "ClusterNamespace", "ClusterName")
ADDON_KEYS = ("Cluster", "MgmtResources")

_CACHE_MAX = 4096
_cache: OrderedDict[tuple[str, str], tuple[str, ...]] = OrderedDict()
_lock = threading.Lock()


def _remember(key: tuple[str, str], value: tuple[str, ...]) -> tuple[str, ...]:
    with _lock:
        _cache[key] = value
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return value


def _recall(key: tuple[str, str]) -> tuple[str, ...] | None:
    with _lock:
        return _cache.get(key)


def go_root_fields(text: str, funcs: str = "sveltos") -> tuple[str, ...]:
    """The root fields a Go template reads, in order of first use (``()`` if it does not
    parse: the parse check reports that)."""
    key = (f"go/{funcs}", text)
    got = _recall(key)
    if got is not None:
        return got
    found: dict[str, None] = {}
    try:
        trees, _order, _ = parse("tpl", text, funcs=set(BUILTINS) | set(function_set(funcs)))
    except (TemplateError, ValueError, RecursionError):
        return _remember(key, ())
    root = trees.get("tpl")
    if root is not None:
        _walk(root, True, found)
    return _remember(key, tuple(found))


def _walk(node: Any, rooted: bool, found: dict[str, None]) -> None:
    if isinstance(node, N.ListNode):
        for child in node.nodes:
            _walk(child, rooted, found)
    elif isinstance(node, N.ActionNode):
        _walk(node.pipe, rooted, found)
    elif isinstance(node, N.PipeNode):
        for cmd in node.cmds:
            _walk(cmd, rooted, found)
    elif isinstance(node, N.CommandNode):
        for arg in node.args:
            _walk(arg, rooted, found)
    elif isinstance(node, N.FieldNode):
        if rooted and node.ident:
            found.setdefault(node.ident[0], None)
    elif isinstance(node, N.VariableNode):
        if len(node.ident) > 1 and node.ident[0] == "$":
            found.setdefault(node.ident[1], None)
    elif isinstance(node, N.ChainNode):
        _walk(node.node, rooted, found)
    elif isinstance(node, N.BranchNode):
        _walk(node.pipe, rooted, found)
        rebinds = isinstance(node, N.RangeNode | N.WithNode)
        _walk(node.list, rooted and not rebinds, found)
        if node.else_list is not None:
            _walk(node.else_list, rooted, found)
    elif isinstance(node, N.TemplateNode) and node.pipe is not None:
        _walk(node.pipe, rooted, found)


def jinja_root_names(text: str) -> tuple[str, ...]:
    """The data keys a Jinja2 template reads (its undeclared variables, less globals)."""
    key = ("jinja", text)
    got = _recall(key)
    if got is not None:
        return got
    env = jinja_environment("sveltos")
    try:
        names = meta.find_undeclared_variables(env.parse(text))
    except Exception:  # does not parse: the parse check reports it
        return _remember(key, ())
    return _remember(key, tuple(sorted(n for n in names if n not in env.globals)))


def missing_keys(
    text: str, keys: tuple[str, ...], flavour: str = "go", funcs: str = "sveltos"
) -> list[str]:
    """The root keys ``text`` reads that the data (``keys``) does not have."""
    if flavour == "jinja":
        used = jinja_root_names(text)
    else:
        if "{{" not in text:
            return []
        used = go_root_fields(text, funcs)
    return [name for name in used if name not in keys]


def describe(name: str, keys: tuple[str, ...], flavour: str = "go", context: str = "") -> str:
    """``.MatchingResources is not in the template data of a oneForEvent: true trigger
    (.MatchingResource, .Resource, .CloudEvent, .Cluster): rendering fails; ...``."""
    dot = "" if flavour == "jinja" else "."
    has = ", ".join(dot + k for k in keys)
    hint = ""
    for one, many in zip(ONE_FOR_EVENT_KEYS[:3], ALL_RESOURCES_KEYS[:3], strict=True):
        if name == one and many in keys:
            hint = (
                f"; {dot}{one} exists only with oneForEvent: true (with false, range over "
                f"{dot}{many})"
            )
        elif name == many and one in keys:
            hint = f"; {dot}{many} exists only with oneForEvent: false (with true, {dot}{one})"
    where = f" {context}" if context else ""
    return f"{dot}{name} is not in the template data{where} ({has}): rendering fails{hint}"


def event_keys(trigger_spec: Any) -> tuple[tuple[str, ...], str]:
    """The data keys of a trigger's instances, and the words that say why."""
    one = isinstance(trigger_spec, dict) and trigger_spec.get("oneForEvent") is True
    keys = ONE_FOR_EVENT_KEYS if one else ALL_RESOURCES_KEYS
    return keys, f"of a oneForEvent: {'true' if one else 'false'} trigger"
