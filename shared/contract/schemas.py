"""JSON Schemas of the contract's messages, one file per CloudEvent type.

    python -m shared.contract.schemas write docs/schemas   # regenerate
    python -m shared.contract.schemas check docs/schemas   # exit 1 when stale or missing

The schemas describe messages as Ripple writes them (pydantic serialization mode: every
field present); readers accept missing optional fields and ignore unknown ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contract.messages import ENVELOPES, Envelope

SCHEMA_BASE = "https://ripple.dev/schemas/"


def schema_of(cls: type[Envelope]) -> dict[str, Any]:
    """The JSON Schema of one envelope class."""
    schema = cls.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}{cls.TYPE}.json",
        **schema,
        "title": cls.TYPE,
    }


def render() -> dict[str, str]:
    """File name -> content of every schema (stable: sorted keys, two-space indent)."""
    return {
        f"{cls.TYPE}.json": json.dumps(schema_of(cls), indent=2, sort_keys=True) + "\n"
        for cls in ENVELOPES
    }


def write(directory: Path) -> list[str]:
    """Write every schema into ``directory``; returns the names of files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, content in render().items():
        path = directory / name
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            changed.append(name)
    return changed


def check(directory: Path) -> list[str]:
    """Problems with ``directory``: one line per missing, stale or unexpected file."""
    expected = render()
    problems = []
    for name, content in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"missing: {path}")
        elif path.read_text() != content:
            problems.append(f"stale: {path}")
    if directory.is_dir():
        for path in sorted(directory.glob("*.json")):
            if path.name not in expected:
                problems.append(f"unexpected: {path}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("write", "check"):
        print("usage: python -m shared.contract.schemas write|check DIR", file=sys.stderr)
        return 2
    directory = Path(args[1])
    if args[0] == "write":
        changed = write(directory)
        print(f"{len(changed)} schema file(s) written to {directory}")
        return 0
    problems = check(directory)
    for line in problems:
        print(line)
    if problems:
        print(
            f"{len(problems)} problem(s): run `make schemas` to regenerate {directory}",
            file=sys.stderr,
        )
        return 1
    print(f"{len(render())} schema file(s) up to date in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
