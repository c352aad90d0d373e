"""``ripple demo``: the spec's story on the embedded default (local NATS + simulated fleet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        once: bool = typer.Option(False, "--once", help="Run the story once and exit 0/1."),
    ) -> None:
        """Run the spec's story end to end on the embedded default and show the latencies."""
        typer.echo(
            "ripple demo: the vertical slice (agent + manager through NATS) is not built yet; "
            "nothing to run.",
            err=True,
        )
        raise typer.Exit(2)
