"""Docs as tests: the commands shown in README.md and examples/**/README.md exist as written.

For each ```sh block: ``make TARGET`` names a Makefile target; ``ripple SUB...`` (or
``.venv/bin/ripple``) is a sub-command whose ``--help`` works and lists every ``--option`` the
line uses. Relative links point to files that exist. (Running the commands themselves is the
job of the tests of each tool; ``make demo ARGS=--once`` is tests/scenario/test_demo.py.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from tests.paths import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "examples").rglob("README.md"))]
_BLOCK = re.compile(r"```(?:sh|bash|shell|console)\n(.*?)```", re.S)
_LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")
_WORD = re.compile(r"^[a-z][a-z-]*$")


def _commands(doc: Path) -> list[str]:
    out: list[str] = []
    for block in _BLOCK.findall(doc.read_text(encoding="utf-8")):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                out.append(line.removeprefix("$ "))
    return out


def _cases(kind: str) -> list[tuple[str, str]]:
    cases = []
    for doc in DOCS:
        for line in _commands(doc):
            argv = shlex.split(line)
            if kind == "make" and argv[0] == "make":
                cases.append((doc.relative_to(REPO).as_posix(), line))
            if kind == "ripple" and argv[0].endswith("ripple"):
                cases.append((doc.relative_to(REPO).as_posix(), line))
    return cases


def _targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-zA-Z][\w-]*)\s*:", text, re.M))


@pytest.mark.parametrize(("doc", "line"), _cases("make") or [("-", "make help")])
def test_make_targets_exist(doc: str, line: str) -> None:
    targets = [a for a in shlex.split(line)[1:] if not a.startswith("-") and "=" not in a]
    missing = [t for t in targets if t not in _targets()]
    assert not missing, f"{doc}: `{line}`: no Makefile target {missing}"


@pytest.mark.parametrize(("doc", "line"), _cases("ripple") or [("-", "ripple --help")])
def test_ripple_commands_exist(doc: str, line: str) -> None:
    argv = shlex.split(line)[1:]
    sub: list[str] = []
    for arg in argv:
        if not _WORD.match(arg):
            break
        sub.append(arg)
    result = CliRunner().invoke(app, [*sub, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (
        f"{doc}: `{line}`: ripple {' '.join(sub)} --help:\n{result.output}"
    )
    for option in (a.split("=")[0] for a in argv if a.startswith("--")):
        if option != "--help":
            assert option in result.output, f"{doc}: `{line}`: {option} is not an option"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = [
        link
        for link in _LINK.findall(text)
        if "://" not in link and not link.startswith("mailto:") and not (doc.parent / link).exists()
    ]
    assert not missing, f"{doc.relative_to(REPO)}: links to missing files: {missing}"
