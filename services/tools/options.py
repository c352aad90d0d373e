"""Options several commands share, validated in one place: a bad value is one line on stderr
naming the option (or its environment variable), the value and what is allowed, and exit
code 2 -- never a traceback, never a usage box.

:data:`LOG_LEVELS` are the values of :data:`shared.runtime.settings.LogLevel` (a test keeps
them equal; the settings module is not imported here so that ``ripple --help`` stays fast).
"""

from __future__ import annotations

import typer

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def fail(message: str) -> None:
    """One line on stderr, exit code 2 (a usage error, like click's)."""
    typer.echo(f"ripple: {message}", err=True)
    raise typer.Exit(2)


def check_log_level(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    """Callback of a log-level option: its value in capitals, or :func:`fail`."""
    level = value.strip().upper()
    if level in LOG_LEVELS:
        return level
    flag = max(param.opts, key=len) if param.opts else str(param.name)
    source = ctx.get_parameter_source(str(param.name))  # typer's own click: compared by name
    envvar = param.envvar if isinstance(param.envvar, str) else None
    from_env = getattr(source, "name", "") == "ENVIRONMENT" and envvar
    origin = f"{envvar} (environment)" if from_env else flag
    fail(f"invalid {origin} {value!r}: use one of {', '.join(LOG_LEVELS)} (any case)")
    return level  # not reached: fail() raises


def log_level_option(default: str, flag: str, help: str, envvar: str | None = None) -> str:
    """A ``typer.Option`` of a log level, validated by :func:`check_log_level`."""
    result: str = typer.Option(
        default,
        flag,
        envvar=envvar,
        callback=check_log_level,
        metavar="|".join(LOG_LEVELS),
        help=help,
    )
    return result
