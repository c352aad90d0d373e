"""YAML reading and writing for definition files, and the bounds on any YAML Ripple reads.

Reading: a SafeLoader that keeps timestamps as strings and rejects duplicate keys and
non-string keys (an unquoted ``{{ }}`` template), with errors carrying line and column.
Writing: :func:`dump_yaml` in block style, multi-line strings as ``|`` blocks.

Bounds (:func:`load_bounded`, used for definitions, rendered manifests, ``fromYaml`` and Helm
values): each document is composed (a graph in which an alias is the anchored node itself,
so a "billion laughs" document stays small) and measured before any object is built: its
size in bytes, its node count with every alias expanded, and its depth. Past
:data:`YAML_LIMITS` it is refused with :class:`YamlTooLarge`, a ``yaml.YAMLError`` (every
reader's YAML error handling names the source).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from shared.api.errors import DefinitionError
from shared.api.meta import ApiModel

# --- bounds -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """What one YAML document may amount to."""

    max_nodes: int = 100_000  # scalars, sequences and mappings, aliases expanded
    max_bytes: int = 2 << 20  # one document's text (Kubernetes stores objects < 1.5 MiB)
    max_depth: int = 500  # nesting
    max_text: int = 16 << 20  # a whole stream, before anything is parsed


YAML_LIMITS = YamlLimits()


class YamlTooLarge(yaml.YAMLError):
    """A YAML document over :class:`YamlLimits`; nothing of it was built."""


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def check_document(node: yaml.Node, limits: YamlLimits = YAML_LIMITS) -> None:
    """Refuse a composed document over ``limits`` (its nodes counted with every alias
    expanded, each distinct node visited once)."""
    start, end = node.start_mark, node.end_mark
    if start is not None and end is not None and end.index - start.index > limits.max_bytes:
        raise YamlTooLarge(
            f"the document is {end.index - start.index} bytes, over the limit of "
            f"{limits.max_bytes} bytes"
        )
    counts: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, depth)
    open_: set[int] = set()
    stack: list[yaml.Node] = [node]
    while stack:
        current = stack[-1]
        key = id(current)
        if key in counts:
            stack.pop()
            continue
        children = _children(current)
        if key not in open_:
            open_.add(key)
            waiting = [c for c in children if id(c) not in counts]
            for child in waiting:
                if id(child) in open_:
                    raise YamlTooLarge("an alias refers to a node that contains it")
            if waiting:
                stack.extend(waiting)
                continue
        total, depth = 1, 0
        for child in children:
            n, d = counts[id(child)]
            total += n
            depth = max(depth, d)
        counts[key] = (total, depth + 1)
        open_.discard(key)
        stack.pop()
        if total > limits.max_nodes:
            raise YamlTooLarge(
                f"the document expands to more than {limits.max_nodes} nodes with its "
                "aliases expanded"
            )
        if depth + 1 > limits.max_depth:
            raise YamlTooLarge(f"the document is nested deeper than {limits.max_depth} levels")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_bounded(
    text: str,
    loader: type[Any],
    *,
    single: bool = False,
    first: bool = False,
    limits: YamlLimits = YAML_LIMITS,
) -> list[Any]:
    """Every document of ``text`` read with ``loader`` (a PyYAML loader class), each checked
    against ``limits`` before it is built (``single``: exactly one document, as
    ``yaml.load``; ``first``: the first one only, the rest unread; none gives ``[]``).
    Raises ``yaml.YAMLError`` (:class:`YamlTooLarge` past a bound)."""
    if len(text) * 4 > limits.max_text and _utf8_size(text) > limits.max_text:
        raise YamlTooLarge(
            f"the text is {_utf8_size(text)} bytes, over the limit of {limits.max_text} bytes"
        )
    docs: list[Any] = []
    reader = loader(text)
    try:
        if single:
            node = reader.get_single_node()
            if node is not None:
                check_document(node, limits)
                docs.append(reader.construct_document(node))
            return docs
        while reader.check_node():
            node = reader.get_node()
            check_document(node, limits)
            docs.append(reader.construct_document(node))
            if first:
                break
        return docs
    except YamlTooLarge as exc:
        raise YamlTooLarge(f"document {len(docs)}: {exc}") from None
    except RecursionError:
        raise YamlTooLarge(f"document {len(docs)}: nested too deeply") from None
    finally:
        reader.dispose()


# --- reading ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamp resolution and rejecting duplicate keys."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found a mapping key that is not a string (unquoted '{{ }}'? quote the value)",
                key_node.start_mark,
            ) from exc
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen[key] = key_node
    return dict(loader.construct_pairs(node, deep=True))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def yaml_error(exc: yaml.YAMLError, source: str, index: int | None = None) -> DefinitionError:
    """A DefinitionError for a YAML syntax error, with line and column."""
    line = column = None
    if isinstance(exc, YamlTooLarge):
        return DefinitionError(f"YAML refused: {exc}", source=source, index=index)
    reason = str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            line, column = mark.line + 1, mark.column + 1
        parts = [p for p in (exc.context, exc.problem) if p]
        reason = ", ".join(parts) or reason
    return DefinitionError(
        f"invalid YAML: {reason}", source=source, index=index, line=line, column=column
    )


_KIND_RE = re.compile(r"^kind:\s*[\"']?([\w.-]+)", re.MULTILINE)
_NAME_RE = re.compile(
    r"^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:\s*[\"']?([^\"'\s#]+)", re.MULTILINE
)
_DOC_SPLIT_RE = re.compile(r"^---.*$", re.MULTILINE)


def _guess_ident(text: str, index: int) -> tuple[str, str]:
    """Best-effort (kind, name) of document ``index`` of a text that is not valid YAML."""
    parts = _DOC_SPLIT_RE.split(text)
    if parts and not parts[0].strip("\n ") and len(parts) > 1:
        parts = parts[1:]
    doc = parts[index] if 0 <= index < len(parts) else ""
    kind = _KIND_RE.search(doc)
    name = _NAME_RE.search(doc)
    return (kind.group(1) if kind else "", name.group(1) if name else "")


def compose_documents(
    text: str, source: str
) -> tuple[list[tuple[Any, yaml.Node | None]], DefinitionError | None]:
    """(data, node) per document, stopping at the first YAML error (returned)."""
    docs: list[tuple[Any, yaml.Node | None]] = []
    size = _utf8_size(text)
    if size > YAML_LIMITS.max_text:
        too_large = YamlTooLarge(
            f"the file is {size} bytes, over the limit of {YAML_LIMITS.max_text} bytes"
        )
        return docs, yaml_error(too_large, source)
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            check_document(node)
            docs.append((loader.construct_document(node), node))
    except (yaml.YAMLError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            exc = YamlTooLarge("the document is nested too deeply")
        problem = yaml_error(exc, source, index=len(docs))
        problem.kind, problem.name = _guess_ident(text, len(docs))
        return docs, problem
    finally:
        loader.dispose()
    return docs, None


# --- writing ---------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def to_plain(model: ApiModel | dict[str, Any]) -> dict[str, Any]:
    return model if isinstance(model, dict) else model.to_dict()


def dump_yaml(models: ApiModel | dict[str, Any] | Sequence[ApiModel | dict[str, Any]]) -> str:
    """YAML as a user writes it (aliases, no defaults); several objects become documents."""
    items = [models] if isinstance(models, ApiModel | dict) else list(models)
    return "---\n".join(
        yaml.dump(to_plain(m), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        for m in items
    )
