"""``ripple lint PATH...``: check definition files without a cluster.

One unit = one file. Prints one line per problem (``FILE: Kind/name: field: reason``),
``ok FILE`` lines with ``--verbose``, warnings always, and ends with ``N passed, N failed``;
exits 0 only when every file is valid (``--strict``: warnings count as failures too).
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
        """Check EventSource / EventTrigger / EventBasedAddOn / ConfigMap... files offline."""
        from shared.api.loading import check_file, iter_definition_files

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
        for path in files:
            result = check_file(path)
            warnings = [
                f"{path}: {item.ident()}: warning: {w}"
                for item in result.loaded
                for w in item.warnings
            ]
            for line in warnings:
                typer.echo(line)
            for error in result.errors:
                typer.echo(str(error))
            if result.ok and not (strict and warnings):
                passed += 1
                if verbose:
                    kinds = ", ".join(item.ident() for item in result.loaded)
                    typer.echo(f"ok {path}" + (f" ({kinds})" if kinds else ""))
            else:
                failed += 1
        typer.echo(f"{passed} passed, {failed} failed")
        if failed:
            raise typer.Exit(1)
