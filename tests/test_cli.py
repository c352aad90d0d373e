"""The ``ripple`` command is installed and documents itself."""

from typer.testing import CliRunner

from services.cli import app


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "ripple" in result.output.lower() or "Usage" in result.output
