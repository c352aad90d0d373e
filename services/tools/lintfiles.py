"""What ``ripple lint`` finds in a set of files (pure: no printing, no exit codes).

Per file: the structure checks of :mod:`shared.api.loading` (their errors and warnings as
they word them), then the static checks of :mod:`shared.checks` on each object as written:
Lua, CEL and regular expressions of EventSources, the Go templates of triggers and the data
keys they read, the fields Ripple accepts and does not act on (:mod:`shared.api.support`),
the helmCharts entries as the agents read them (:mod:`services.tools.linthelm`), and the
templates of the ConfigMaps/Secrets a trigger renders when they are among the files given. A static problem is one line,
``FILE:LINE: Kind/name field: message`` (``warning: `` before the message of a warning),
where LINE is the line of the field in the file, or the line inside a multi-line script or
template.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.tools.linthelm import helm_problems
from shared.api.loading import LoadResult, check_text
from shared.api.validation import yaml_line_inside, yaml_node_at
from shared.api.vocabulary import CONFIG_MAP, SECRET
from shared.api.yamlio import compose_documents
from shared.checks import Problem, check_definition
from shared.checks.datakeys import event_keys
from shared.checks.definitions import TRIGGER_KINDS
from shared.checks.problems import format_path
from shared.checks.references import (
    Data,
    addon_template,
    check_reference,
    references,
    renders,
)


@dataclass
class RawObject:
    """One object of a file as written, with its YAML node (None: positions unknown)."""

    data: dict[str, Any]
    node: yaml.Node | None
    report: FileReport

    @property
    def ident(self) -> str:
        meta = self.data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return f"{self.data.get('kind') or '?'}/{name or '?'}"


@dataclass
class FileReport:
    """Everything found in one file."""

    path: Path
    result: LoadResult
    objects: list[RawObject] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: (line in the file, 0 when unknown; order found; text) of every error and warning
    _lines: list[tuple[int, int, str]] = field(default_factory=list)

    def put(self, line: int | None, text: str, warning: bool) -> None:
        (self.warnings if warning else self.errors).append(text)
        self._lines.append((line or 0, len(self._lines), text))

    def lines(self) -> list[str]:
        """Every error and warning in the order of the file."""
        return [text for _, _, text in sorted(self._lines)]

    def add(self, obj: RawObject, problem: Problem, note: str = "") -> None:
        line = yaml_line_inside(obj.node, problem.path, problem.line)
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        inner = ""  # the line inside the text, when the file line cannot show it
        shown = line is not None and (problem.line == 1 or _block(obj.node, problem.path))
        if problem.line is not None and not shown:
            inner = f"line {problem.line}: "
        text = f"{where}: {obj.ident} {format_path(problem.path)}: "
        if problem.severity == "warning":
            self.put(line, f"{text}warning: {inner}{problem.message}{note}", True)
        else:
            self.put(line, f"{text}{inner}{problem.message}{note}", False)

    @property
    def failed(self) -> bool:
        return bool(self.errors) or not self.result.ok


def _block(node: yaml.Node | None, path: tuple[str | int, ...]) -> bool:
    value = yaml_node_at(node, path)
    return isinstance(value, yaml.ScalarNode) and value.style in ("|", ">")


def _read(path: Path) -> tuple[FileReport, str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        from shared.api.errors import DefinitionError

        result = LoadResult(str(path))
        result.errors.append(DefinitionError(f"cannot read file: {exc}", source=str(path)))
        return FileReport(path, result), None
    return FileReport(path, check_text(text, str(path))), text


def _raw_objects(report: FileReport, text: str) -> Iterator[RawObject]:
    try:
        docs, _problem = compose_documents(text, str(report.path))
    except Exception:  # a JSON file YAML cannot read: no positions, no static checks
        return
    for data, node in docs:
        if isinstance(data, dict) and str(data.get("kind", "")).endswith("List"):
            items = data.get("items")
            for i, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, dict):
                    yield RawObject(item, yaml_node_at(node, ("items", i)), report)
        elif isinstance(data, dict):
            yield RawObject(data, node, report)


def lint(files: Iterable[Path]) -> list[FileReport]:
    """Every file checked; the ConfigMaps/Secrets of all the files resolve the references."""
    reports: list[FileReport] = []
    for path in files:
        report, text = _read(path)
        reports.append(report)
        for item in report.result.loaded:
            for warning in item.warnings:
                report.put(item.line, f"{path}: {item.ident()}: warning: {warning}", True)
        for error in report.result.errors:
            report.put(error.line, str(error), False)
        if text is not None:
            report.objects.extend(_raw_objects(report, text))
    pool = [
        o
        for r in reports
        for o in r.objects
        if o.data.get("kind") in (CONFIG_MAP.kind, SECRET.kind)
    ]
    #: (object, addon pass, data keys) -> (object, note, data keys and why)
    rendered: dict[tuple[int, bool, tuple[str, ...]], tuple[RawObject, str, Data]] = {}
    for report in reports:
        for obj in report.objects:
            for problem in check_definition(obj.data):
                report.add(obj, problem)
            if obj.data.get("kind") not in TRIGGER_KINDS:
                continue
            for problem in helm_problems(obj.data):
                report.add(obj, problem)
            data = event_keys(obj.data.get("spec"))
            for ref in references(obj.data):
                for target in pool:
                    if not ref.matches(target.data):
                        continue
                    note = f" (rendered by {obj.ident} {format_path(ref.path)})"
                    if renders(obj.data, ref, target.data):
                        key = (id(target), False, data[0])
                        rendered.setdefault(key, (target, note, data))
                    elif addon_template(ref, target.data):
                        rendered.setdefault((id(target), True, ()), (target, note, data))
    seen: set[str] = set()  # a parse error once, whatever the triggers
    for (_, addon, _keys), (target, note, data) in rendered.items():
        for problem in check_reference(target.data, addon=addon, data=data):
            line = f"{id(target)} {problem.text()}"
            if line not in seen:
                seen.add(line)
                target.report.add(target, problem, note)
    return reports
