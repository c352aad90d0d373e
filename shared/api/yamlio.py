"""YAML reading and writing for definition files.

Reading: a SafeLoader that keeps timestamps as strings and rejects duplicate keys and
non-string keys (an unquoted ``{{ }}`` template), with errors carrying line and column.
Writing: :func:`dump_yaml` in block style, multi-line strings as ``|`` blocks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from shared.api.errors import DefinitionError
from shared.api.meta import ApiModel

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
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            docs.append((loader.construct_document(node), node))
    except yaml.YAMLError as exc:
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
