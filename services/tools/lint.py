"""``ripple lint PATH...``: check definition files without a cluster.

One unit = one file. Each file is read as the API server would (structure, types, field
names), then compiled as the services would (Lua and CEL of EventSources in the agent's
engines, every template of a trigger, the templates of the ConfigMaps/Secrets a trigger
renders when they are among the files given), and the fields Ripple accepts without acting
on them are named (:mod:`services.tools.lintfiles`, docs/lint.md). Prints one line per
problem (``FILE:LINE: Kind/name field: message``), warnings always, ``ok FILE`` lines with
``--verbose``, and ends with ``N passed, N failed``; exits 0 only when every file is valid
(``--strict``: warnings count as failures too), 1 when one is not, 2 for bad arguments.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("lint")
    def lint(
        paths: list[Path] = typer.Argument(
            ..., help="Definition files or folders (searched recursively for *.yaml/*.yml/*.json)."
        ),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print 'ok FILE' lines."),
        strict: bool = typer.Option(False, "--strict", help="Fail files that only have warnings."),
    ) -> None:
        """Check EventSource / EventTrigger / EventBasedAddOn / ConfigMap... files offline:
        structure, Lua, CEL, templates, and fields Ripple does not act on."""
        from services.tools.lintfiles import lint as lint_files
        from shared.api.loading import iter_definition_files

        missing = [p for p in paths if not p.exists()]
        if missing:
            for p in missing:
                typer.echo(f"ripple lint: {p}: no such file or directory", err=True)
            raise typer.Exit(2)
        files = list(iter_definition_files(paths))
        if not files:
            typer.echo(
                "ripple lint: no *.yaml, *.yml or *.json file under "
                + ", ".join(str(p) for p in paths),
                err=True,
            )
            raise typer.Exit(2)
        passed = failed = 0
        for report in lint_files(files):
            for line in report.lines():
                typer.echo(line)
            if not report.failed and not (strict and report.warnings):
                passed += 1
                if verbose:
                    kinds = ", ".join(item.ident() for item in report.result.loaded)
                    typer.echo(f"ok {report.path}" + (f" ({kinds})" if kinds else ""))
            else:
                failed += 1
        typer.echo(f"{passed} passed, {failed} failed")
        if failed:
            raise typer.Exit(1)
