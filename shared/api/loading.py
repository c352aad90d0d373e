"""Loading definition files: YAML/JSON, multi-document, dispatch to the right model.

* :func:`load_file` / :func:`load_text` return one :class:`Loaded` per object and raise
  :class:`~shared.api.errors.DefinitionError` (``DefinitionErrors`` when there are several);
  :func:`check_file` / :func:`check_text` return every object and every problem instead.
* :func:`parse_object` validates one dict (e.g. from the API server) into its model.
* :func:`dump_yaml` writes models back the way a user writes them.

Every error names the file (and line/column when known), the object (``Kind/name``,
document number) and the field path, e.g.
``es.yaml:12:7: EventSource/foo (document 1): spec.resourceSelectors[0].labelFilters[1].operation:
must be one of 'Equal', 'Different', 'Has', 'DoesNotHave', got 'NotEqual'``.

Leniency (reported as a warning on :class:`Loaded`): a document whose ``metadata:`` and
``spec:`` are empty while their fields sit at the top level (indentation lost when copied
from a web page, as in some Sveltos docs) is read as if the fields were indented.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.api.cluster import SveltosCluster
from shared.api.clusterprofile import ClusterProfile
from shared.api.core import ConfigMap, GenericObject, Secret
from shared.api.errors import DefinitionError, DefinitionErrors
from shared.api.eventreport import EventReport
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger
from shared.api.meta import TypedObject
from shared.api.validation import describe_errors, yaml_position_of
from shared.api.validation import (
    validation_error_to_definition_errors as validation_error_to_definition_errors,
)
from shared.api.vocabulary import EVENT_BASED_ADDON, EVENT_SOURCE, EVENT_TRIGGER, SVELTOS_DOMAIN
from shared.api.yamlio import YAML_LIMITS, compose_documents
from shared.api.yamlio import dump_yaml as dump_yaml
from shared.api.yamlio import to_plain as to_plain
from shared.api.yamlio import yaml_error as yaml_error

DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")

#: (apiVersion, kind) -> model
MODELS: dict[tuple[str, str], type[TypedObject]] = {}
for _model in (EventSource, EventBasedAddOn, EventTrigger, EventReport, SveltosCluster,
               ClusterProfile, ConfigMap, Secret):  # fmt: skip
    for _version in _model.API_VERSIONS:
        MODELS[(_version, _model.KIND)] = _model


@dataclass
class Loaded:
    """One object read from a file."""

    obj: TypedObject
    source: str = "<string>"
    index: int = 0
    line: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.obj.kind

    @property
    def name(self) -> str:
        return self.obj.metadata.name

    def ident(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class LoadResult:
    """Everything found in one file: the valid objects and the problems."""

    source: str
    loaded: list[Loaded] = field(default_factory=list)
    errors: list[DefinitionError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_errors(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise DefinitionErrors(self.errors)


# --- objects ---------------------------------------------------------------------------------


def _model_for(api_version: str, kind: str) -> type[TypedObject] | tuple[str, str]:
    """The model for (apiVersion, kind), or (field, why there is none)."""
    model = MODELS.get((api_version, kind))
    if model is not None:
        return model
    versions = [v for (v, k) in MODELS if k == kind]
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    if versions and group and any(v.startswith(group + "/") for v in versions):
        hint = ""
        if kind == EVENT_TRIGGER.kind and api_version.endswith("/v1alpha1"):
            hint = " (the v1alpha1 kind is EventBasedAddOn)"
        elif kind == EVENT_BASED_ADDON.kind and api_version.endswith("/v1beta1"):
            hint = " (the v1beta1 kind is EventTrigger)"
        return (
            "apiVersion",
            f"{kind} is not served in {api_version}; use {' or '.join(versions)}{hint}",
        )
    if group.endswith(SVELTOS_DOMAIN):
        known = sorted({k for (v, k) in MODELS if v.startswith(group + "/")})
        if not known:
            return ("apiVersion", f"unknown API version {api_version!r}")
        close = difflib.get_close_matches(kind, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
        return ("kind", f"unknown kind {kind!r} in {api_version}{hint}")
    return GenericObject


def parse_object(
    obj: Any,
    source: str = "<object>",
    *,
    index: int | None = None,
    node: yaml.Node | None = None,
) -> TypedObject:
    """Validate one Kubernetes object (dict) into its model.

    Raises :class:`DefinitionError` (``DefinitionErrors`` if several fields are wrong).
    """
    if not isinstance(obj, dict):
        raise DefinitionError(
            f"a document must be a mapping (a Kubernetes object), got {type(obj).__name__}",
            source=source,
            index=index,
            line=(node.start_mark.line + 1) if node is not None else None,
        )
    meta = obj.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")

    def err(reason: str, fld: str = "") -> DefinitionError:
        line, column = yaml_position_of(node, fld.split(".") if fld else [])
        return DefinitionError(
            reason,
            source=source,
            kind=str(kind or ""),
            name=name,
            index=index,
            field=fld,
            line=line,
            column=column,
        )

    if not isinstance(api_version, str) or not api_version:
        raise err("required field is missing (or not a string)", "apiVersion")
    if not isinstance(kind, str) or not kind:
        raise err("required field is missing (or not a string)", "kind")
    model = _model_for(api_version, kind)
    if isinstance(model, tuple):
        raise err(model[1], model[0])
    if not isinstance(meta, dict):
        raise err("required field is missing (an object with at least 'name')", "metadata")
    if model.NAME_REQUIRED and not name and not meta.get("generateName"):
        raise err("required field is missing", "metadata.name")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        problems = describe_errors(exc, model, obj)
        errors = []
        for path, raw_path, reason in problems:
            line, column = yaml_position_of(node, raw_path)
            errors.append(
                DefinitionError(
                    reason,
                    source=source,
                    kind=kind,
                    name=name,
                    index=index,
                    field=path,
                    line=line,
                    column=column,
                )
            )
        if len(errors) == 1:
            raise errors[0] from exc
        raise DefinitionErrors(errors) from exc


_META_KEYS = ("name", "namespace", "labels", "annotations", "generateName")
_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")


def _repair_flattened(doc: Any) -> tuple[Any, str | None]:
    """Undo lost indentation under ``metadata:``/``spec:`` (see module docstring)."""
    if not (
        isinstance(doc, dict)
        and "metadata" in doc
        and doc["metadata"] is None
        and doc.get("spec") is None
        and isinstance(doc.get("name"), str)
    ):
        return doc, None
    meta = {k: doc[k] for k in _META_KEYS if k in doc}
    spec = {k: v for k, v in doc.items() if k not in _TOP_KEYS and k not in _META_KEYS}
    fixed = {k: doc[k] for k in ("apiVersion", "kind") if k in doc}
    fixed["metadata"] = meta
    if spec:
        fixed["spec"] = spec
    moved = ", ".join(sorted(spec)) or "-"
    warning = (
        "'metadata:' and 'spec:' are empty and their fields sit at the top level (indentation "
        f"lost?); read 'name' as metadata.name and {moved} as spec fields - indent them"
    )
    return fixed, warning


def _compatibility_warnings(doc: dict[str, Any]) -> list[str]:
    """Accepted spellings that Sveltos itself would not honour (the fields Ripple accepts
    and does not act on are :mod:`shared.checks`' warnings)."""
    if doc.get("kind") != EVENT_SOURCE.kind or not isinstance(doc.get("spec"), dict):
        return []
    spec = doc["spec"]
    places = [("spec", spec)] + [
        (f"spec.resourceSelectors[{i}]", sel)
        for i, sel in enumerate(spec.get("resourceSelectors") or [])
        if isinstance(sel, dict)
    ]
    return [
        f"{where}.labelsFilters: read as labelFilters; Sveltos does not know this spelling "
        "(its API server drops it and the EventSource then matches every object)"
        for where, part in places
        if "labelsFilters" in part
    ]


TRIGGER_KINDS = (EVENT_TRIGGER.kind, EVENT_BASED_ADDON.kind)


def check_text(text: str, source: str = "<string>") -> LoadResult:
    """Load every object in ``text``; problems are collected, not raised."""
    result = LoadResult(source)
    if source.endswith(".json"):
        if len(text) > YAML_LIMITS.max_text:
            reason = f"JSON refused: {len(text)} characters, over the limit of "
            result.errors.append(DefinitionError(reason + str(YAML_LIMITS.max_text), source=source))
            return result
        try:
            docs: list[tuple[Any, yaml.Node | None]] = [(json.loads(text), None)]
        except json.JSONDecodeError as exc:
            result.errors.append(
                DefinitionError(
                    f"invalid JSON: {exc.msg}", source=source, line=exc.lineno, column=exc.colno
                )
            )
            return result
        except RecursionError:
            result.errors.append(DefinitionError("JSON refused: nested too deeply", source=source))
            return result
        yaml_problem = None
    else:
        docs, yaml_problem = compose_documents(text, source)
    index = 0
    for data, node in docs:
        if data is None:  # empty document
            index += 1
            continue
        items: list[Any] = [data]
        if (
            isinstance(data, dict)
            and str(data.get("kind", "")).endswith("List")
            and "items" in data
        ):
            items = list(data.get("items") or [])
        for item in items:
            item, warning = _repair_flattened(item)
            try:
                obj = parse_object(
                    item, source, index=index, node=node if len(items) == 1 else None
                )
            except DefinitionErrors as exc:
                result.errors.extend(exc.errors)
            except DefinitionError as exc:
                result.errors.append(exc)
            else:
                line = node.start_mark.line + 1 if node is not None else None
                warnings = [warning] if warning else []
                warnings.extend(_compatibility_warnings(item))
                result.loaded.append(Loaded(obj, source, index, line, warnings))
        index += 1
    if yaml_problem is not None:
        result.errors.append(yaml_problem)
    if not docs and yaml_problem is None:
        result.errors.append(DefinitionError("no object found (empty file)", source=source))
    return result


def check_file(path: str | Path) -> LoadResult:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result = LoadResult(str(path))
        result.errors.append(DefinitionError(f"cannot read file: {exc}", source=str(path)))
        return result
    return check_text(text, str(path))


def load_text(text: str, source: str = "<string>") -> list[Loaded]:
    """Every object in ``text``; raises DefinitionError on the first invalid file content."""
    result = check_text(text, source)
    result.raise_errors()
    return result.loaded


def load_file(path: str | Path) -> list[Loaded]:
    result = check_file(path)
    result.raise_errors()
    return result.loaded


def iter_definition_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The files named, and the *.yaml/*.yml/*.json under named folders (sorted).

    Raises FileNotFoundError for a path that does not exist.
    """
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(
                f for f in path.rglob("*") if f.is_file() and f.suffix in DEFINITION_SUFFIXES
            )
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(str(path))
