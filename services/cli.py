"""The ``ripple`` command: one sub-command per service plus the offline tools.

This module is the composition root: it may import every service package; the services
themselves never import each other (import-linter enforces it). Each sub-command lives in
its own small module and imports its heavy dependencies only when it runs, so ``--help``
stays fast.
"""

from __future__ import annotations

import typer

from services.tools import commands, explain
from services.tools.options import log_level_option

app = typer.Typer(
    name="ripple",
    help=(
        "Ripple: event-driven add-on deployment for fleets of Kubernetes clusters, over NATS.\n\n"
        "Speaks the Sveltos event-framework API (EventSource, EventBasedAddOn/EventTrigger, "
        "EventReport, ClusterProfile)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    log_level: str = log_level_option(
        "INFO",
        "--log-level",
        envvar="RIPPLE_LOG_LEVEL",
        help="Log level of every command and service: DEBUG, INFO, WARNING or ERROR "
        "(any case; before the command: ripple --log-level DEBUG manager ...).",
    ),
) -> None:
    """Ripple: event-driven add-on deployment for fleets of Kubernetes clusters."""
    from shared import logs

    logs.setup(log_level)


commands.register(app)
explain.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
