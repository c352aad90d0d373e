"""``ripple validate PATH...``: test EventSources offline against example objects.

The layout is the one the Sveltos docs describe ("validate it before using it") and the
agent's own test data uses: a folder per case holding

* ``eventsource.yaml``: one EventSource (v1alpha1 flat, v1alpha1 or v1beta1);
* ``matching.yaml`` (optional, multi-document): every object must be an event;
* ``non-matching.yaml`` (optional, multi-document): no object may be an event.

With ``aggregatedSelection``, all objects of both files are evaluated together and the result
must contain every matching object and no non-matching one. Folders are searched
recursively. One line per case, then ``N passed, N failed``; exit status 0 only when every
case passes. A file that does not load, a script that does not compile or a script error is
a failed case with the reason, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from shared.api.eventsource import EventSource
    from shared.evaluation import CompiledEventSource

EVENTSOURCE_FILES = ("eventsource.yaml", "eventsource.yml")
MATCHING_FILES = ("matching.yaml", "matching.yml")
NON_MATCHING_FILES = ("non-matching.yaml", "non-matching.yml")


@dataclass
class CaseResult:
    name: str
    passed: bool
    detail: str
    notes: list[str] = field(default_factory=list)


class CaseFailure(Exception):
    """A case fails for ``str(exc)``."""


def find_cases(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included) holding an eventsource.yaml, sorted."""
    if root.is_file():
        return [root.parent] if root.name in EVENTSOURCE_FILES else []
    found = {p.parent for name in EVENTSOURCE_FILES for p in root.rglob(name)}
    return sorted(found)


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _load_event_source(path: Path) -> EventSource:
    from shared.api import loading
    from shared.api.eventsource import EventSource

    try:
        objs = [item.obj for item in loading.load_file(path)]
    except Exception as exc:
        raise CaseFailure(f"{path.name}: {exc}") from exc
    sources = [o for o in objs if isinstance(o, EventSource)]
    if len(sources) != 1 or len(objs) != 1:
        raise CaseFailure(
            f"{path.name}: expected exactly one EventSource, found {len(objs)} object(s)"
        )
    return sources[0]


def _load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML/JSON file, as plain dicts (timestamps stay strings)."""
    import yaml

    from shared.api.yamlio import load_bounded

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in load_bounded(text, Loader) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise CaseFailure(f"{path.name}: {exc}") from exc
    for index, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            raise CaseFailure(f"{path.name}: document {index} is not an object")
        if not doc.get("kind") or not doc.get("apiVersion"):
            raise CaseFailure(f"{path.name}: document {index} has no apiVersion/kind")
    return docs


def _describe(obj: dict[str, Any]) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    name = md.get("name") or "?"
    return f"{obj.get('kind')}/{ns}/{name}" if ns else f"{obj.get('kind')}/{name}"


def _check_each(
    compiled: CompiledEventSource, objs: list[dict[str, Any]], expect: bool, file: str
) -> None:
    for index, obj in enumerate(objs, 1):
        result = compiled.evaluate(obj)
        what = f"{file} document {index} ({_describe(obj)})"
        if result.error is not None:
            raise CaseFailure(f"{what}: error: {result.error}")
        if result.matching != expect:
            verdict = "does not match" if expect else "matches"
            extra = f" ({result.message})" if result.message else ""
            raise CaseFailure(
                f"{what} {verdict}, expected it {'to' if expect else 'not to'}{extra}"
            )


def _check_aggregate(
    compiled: CompiledEventSource,
    matching: list[dict[str, Any]],
    non_matching: list[dict[str, Any]],
) -> None:
    from shared.evaluation.matching import identity

    result = compiled.aggregate([*matching, *non_matching])
    if result.error is not None:
        raise CaseFailure(f"aggregatedSelection error: {result.error}")
    got = {identity(o) for o in result.resources}
    missing = [_describe(o) for o in matching if identity(o) not in got]
    extra = [_describe(o) for o in non_matching if identity(o) in got]
    problems = []
    if missing:
        problems.append("missing from the result: " + ", ".join(missing))
    if extra:
        problems.append("wrongly in the result: " + ", ".join(extra))
    if problems:
        raise CaseFailure("aggregatedSelection: " + "; ".join(problems))


def run_case(folder: Path, name: str) -> CaseResult:
    """Validate one case folder."""
    from shared.evaluation import InvalidEventSource, compile_event_source

    try:
        es_path = _first(folder, EVENTSOURCE_FILES)
        if es_path is None:
            raise CaseFailure("no eventsource.yaml")
        source = _load_event_source(es_path)
        try:
            compiled = compile_event_source(source)
        except InvalidEventSource as exc:
            raise CaseFailure(f"{es_path.name}: {exc}") from exc
        m_path = _first(folder, MATCHING_FILES)
        n_path = _first(folder, NON_MATCHING_FILES)
        matching = _load_documents(m_path) if m_path else []
        non_matching = _load_documents(n_path) if n_path else []
        if compiled.has_aggregation:
            _check_aggregate(compiled, matching, non_matching)
        else:
            _check_each(compiled, matching, True, m_path.name if m_path else "")
            _check_each(compiled, non_matching, False, n_path.name if n_path else "")
    except CaseFailure as exc:
        return CaseResult(name, False, str(exc))
    if not m_path and not n_path:
        detail = "compiles; no matching.yaml or non-matching.yaml to check"
    else:
        kind = "aggregatedSelection, " if compiled.has_aggregation else ""
        detail = f"{kind}{len(matching)} matching, {len(non_matching)} non-matching"
    return CaseResult(name, True, detail, list(compiled.warnings))


def validate_paths(paths: list[Path]) -> list[CaseResult]:
    """Every case under ``paths`` (a missing path or a path without cases is a failure)."""
    results: list[CaseResult] = []
    for root in paths:
        if not root.exists():
            results.append(CaseResult(str(root), False, "no such file or directory"))
            continue
        cases = find_cases(root)
        if not cases:
            results.append(CaseResult(str(root), False, "no eventsource.yaml found"))
            continue
        base = root if root.is_dir() else root.parent
        for folder in cases:
            rel = folder.relative_to(base)
            name = str(Path(base.name) / rel) if str(rel) != "." else base.name
            results.append(run_case(folder, name))
    return results


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(
        paths: list[Path] = typer.Argument(
            ...,
            help="Case folders (eventsource.yaml + matching.yaml / non-matching.yaml) or "
            "folders holding them, searched recursively.",
        ),
    ) -> None:
        """Test EventSources (Lua, CEL, label filters, aggregatedSelection) offline."""
        results = validate_paths(paths)
        for r in results:
            typer.echo(f"{'PASS' if r.passed else 'FAIL'} {r.name}: {r.detail}")
            for note in r.notes:
                typer.echo(f"     warning: {note}")
        passed = sum(r.passed for r in results)
        failed = len(results) - passed
        typer.echo(f"{passed} passed, {failed} failed")
        raise typer.Exit(0 if failed == 0 else 1)
