"""The ``ripple`` command is installed and documents itself; a bad ``--log-level`` (flag or
environment, on the root and on ``ripple scenario --service-log-level``) is one line naming
the allowed values and exit code 2, before anything starts."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import get_args

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.tools.options import LOG_LEVELS
from shared.runtime.settings import LogLevel
from tests.paths import REPO

ALLOWED = "use one of DEBUG, INFO, WARNING, ERROR (any case)"


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "ripple" in result.output.lower() or "Usage" in result.output


def test_the_cli_allows_the_levels_the_settings_allow() -> None:
    assert get_args(LogLevel) == LOG_LEVELS


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (
            ["--log-level", "nope", "lint", "x"],
            {},
            f"ripple: invalid --log-level 'nope': {ALLOWED}",
        ),
        (["--log-level", "", "lint", "x"], {}, f"ripple: invalid --log-level '': {ALLOWED}"),
        (
            ["lint", "x"],
            {"RIPPLE_LOG_LEVEL": "verbose"},
            f"ripple: invalid RIPPLE_LOG_LEVEL (environment) 'verbose': {ALLOWED}",
        ),
        (
            ["scenario", "--service-log-level", "loud", "no-such-folder"],
            {},
            f"ripple: invalid --service-log-level 'loud': {ALLOWED}",
        ),
    ],
)
def test_a_bad_log_level_is_one_line_and_exit_2(
    argv: list[str], env: dict[str, str], line: str
) -> None:
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [line]
    assert result.stdout == "", "nothing ran"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, as it was before the test (``ripple``'s callback configures it)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("level", ["debug", "Warning", " ERROR "])
def test_a_log_level_is_taken_in_any_case(level: str, root_logger: logging.Logger) -> None:
    result = CliRunner().invoke(app, ["--log-level", level, "lint", "--help"])
    assert result.exit_code == 0, result.output
    assert logging.getLevelName(root_logger.level) == level.strip().upper()


def test_the_installed_command_prints_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "--log-level", "LOUD", "manager"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"ripple: invalid --log-level 'LOUD': {ALLOWED}\n"
    assert proc.stdout == ""
