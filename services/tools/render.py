"""``ripple render``: render an event template offline, or run a template case file.

    ripple render TEMPLATE [--resource F] [--resources F] [--matching-resource F]
                           [--matching-resources F] [--cluster F] [--cloud-event F]
                           [--cloud-events F] [--set KEY=F] [--data F] [--flavour go|jinja]
    ripple render --cases FILE.json [--quiet]

TEMPLATE is a template file, or a ConfigMap/Secret YAML whose data keys are templates
(rendered key by key; the flavour comes from its ``ripple.io/template-flavour`` annotation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _load_docs(path: Path) -> list[Any]:
    import json

    import yaml

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    from shared.api.yamlio import load_bounded

    return [d for d in load_bounded(text, yaml.SafeLoader) if d is not None]


def _one(path: Path) -> Any:
    docs = _load_docs(path)
    if len(docs) != 1:
        raise typer.BadParameter(f"{path}: expected one document, found {len(docs)}")
    return docs[0]


def _many(path: Path) -> list[Any]:
    out: list[Any] = []
    for doc in _load_docs(path):
        if isinstance(doc, list):
            out.extend(doc)
        elif isinstance(doc, dict) and doc.get("kind", "").endswith("List") and "items" in doc:
            out.extend(doc["items"] or [])
        else:
            out.append(doc)
    return out


def _ref(obj: Any) -> dict[str, Any]:
    from shared.api.vocabulary import ObjectKey

    return ObjectKey.of(obj or {}).reference()


def _templates_of(path: Path) -> list[tuple[str, str, str | None]]:
    """(label, text, flavour from annotations) for a template file or a ConfigMap/Secret."""
    import base64

    import yaml

    from shared.api.vocabulary import CONFIG_MAP, SECRET
    from shared.api.yamlio import load_bounded

    text = path.read_text(encoding="utf-8")
    try:
        docs = [d for d in load_bounded(text, yaml.SafeLoader) if d is not None]
    except yaml.YAMLError:
        docs = []
    kinds = (CONFIG_MAP.kind, SECRET.kind)
    holders = [d for d in docs if isinstance(d, dict) and d.get("kind") in kinds]
    if holders and all(isinstance(d, dict) and d.get("apiVersion") for d in docs):
        # definition files: every ConfigMap/Secret among them holds templates, key by key; the
        # flavour is read as the manager reads it (shared.templating.flavour_of)
        from shared.templating import flavour_of

        out: list[tuple[str, str, str | None]] = []
        for doc in holders:
            flavour = flavour_of((doc.get("metadata") or {}).get("annotations"))
            prefix = (
                f"{doc['kind']}/{(doc.get('metadata') or {}).get('name', '')} "
                if len(holders) > 1
                else ""
            )
            for key, value in sorted((doc.get("data") or {}).items()):
                if doc["kind"] == SECRET.kind:
                    value = base64.b64decode(value).decode("utf-8")
                out.append((prefix + str(key), str(value), flavour))
            for key, value in sorted((doc.get("stringData") or {}).items()):
                out.append((prefix + str(key), str(value), flavour))
        return out
    return [(path.name, text, None)]


def _run_cases(cases: Path, quiet: bool) -> None:
    from shared.templating.cases import load_deviations, run_cases

    devs = load_deviations()
    passed = failed = deviations = 0
    for result in run_cases(cases, devs):
        if result.status == "FAIL":
            failed += 1
        else:
            passed += 1
            if result.status == "DEVIATION":
                deviations += 1
        if not quiet or result.status == "FAIL":
            typer.echo(result.line())
    typer.echo(f"({deviations} of the passed cases are documented deviations)")
    typer.echo(f"{passed} passed, {failed} failed")
    raise typer.Exit(0 if failed == 0 else 1)


def register(app: typer.Typer) -> None:
    @app.command("render")
    def render(
        template: Path | None = typer.Argument(
            None, help="Template file, or a ConfigMap/Secret YAML holding templates."
        ),
        resource: Path | None = typer.Option(None, "--resource", help=".Resource (YAML/JSON)."),
        resources: Path | None = typer.Option(
            None, "--resources", help=".Resources: multi-document YAML, a List, or a JSON array."
        ),
        matching_resource: Path | None = typer.Option(
            None, "--matching-resource", help=".MatchingResource (default: from --resource)."
        ),
        matching_resources: Path | None = typer.Option(
            None, "--matching-resources", help=".MatchingResources (default: from --resources)."
        ),
        cluster: Path | None = typer.Option(None, "--cluster", help=".Cluster object."),
        cloud_event: Path | None = typer.Option(None, "--cloud-event", help=".CloudEvent."),
        cloud_events: Path | None = typer.Option(None, "--cloud-events", help=".CloudEvents."),
        set_: list[str] = typer.Option(
            [], "--set", help="KEY=FILE: any other top-level data key (repeatable)."
        ),
        data_file: Path | None = typer.Option(
            None, "--data", help="The whole data map from one YAML/JSON file."
        ),
        flavour: str | None = typer.Option(
            None, "--flavour", help="go or jinja (default: the annotation, else go)."
        ),
        funcs: str = typer.Option("sveltos", "--funcs", help="builtin|sprig|sveltos|sveltos-addon"),
        name: str = typer.Option("tpl", "--name", help="Template name used in error messages."),
        cases: Path | None = typer.Option(
            None, "--cases", help="Run a template case file (corpus format) instead."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="With --cases: print only failures."),
    ) -> None:
        """Render a template with event data, or check a template case file."""
        if cases is not None:
            _run_cases(cases, quiet)
            return
        if template is None:
            typer.echo("ripple render: give a TEMPLATE file or --cases FILE", err=True)
            raise typer.Exit(2)

        from shared.templating import TemplateError, render_event_template

        data: dict[str, Any] = {}
        try:
            if data_file is not None:
                loaded = _one(data_file)
                if not isinstance(loaded, dict):
                    raise typer.BadParameter(f"{data_file}: the data must be a map")
                data.update(loaded)
            if resource is not None:
                data["Resource"] = _one(resource)
                data.setdefault("MatchingResource", _ref(data["Resource"]))
            if resources is not None:
                data["Resources"] = _many(resources)
                data.setdefault("MatchingResources", [_ref(r) for r in data["Resources"]])
            if matching_resource is not None:
                data["MatchingResource"] = _one(matching_resource)
            if matching_resources is not None:
                data["MatchingResources"] = _many(matching_resources)
            if cluster is not None:
                data["Cluster"] = _one(cluster)
            if cloud_event is not None:
                data["CloudEvent"] = _one(cloud_event)
            if cloud_events is not None:
                data["CloudEvents"] = _many(cloud_events)
            for item in set_:
                key, sep, file = item.partition("=")
                if not sep or not key:
                    raise typer.BadParameter(f"--set {item!r}: expected KEY=FILE")
                data[key] = _one(Path(file))
            templates = _templates_of(template)
        except (OSError, ValueError) as exc:
            typer.echo(f"ripple render: {exc}", err=True)
            raise typer.Exit(1) from None

        failed = False
        for label, text, annotated in templates:
            chosen = flavour or annotated or "go"
            if len(templates) > 1:
                typer.echo(f"--- # {label}")
            try:
                out = render_event_template(text, data, flavour=chosen, name=name, funcs=funcs)
            except (TemplateError, ValueError) as exc:
                typer.echo(f"ripple render: {label}: {exc}", err=True)
                failed = True
                continue
            # bytes that are not UTF-8 (Go strings may hold any) are written as they are
            typer.echo(out.encode("utf-8", "surrogateescape"), nl=not out.endswith("\n"))
        if failed:
            raise typer.Exit(1)
