"""JSON Schemas: one per message type, written stably; `check` catches stale/missing files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.contract import schemas
from shared.contract.messages import ENVELOPES
from tests.paths import REPO


def test_write_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["write", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{c.TYPE}.json" for c in ENVELOPES)
    assert schemas.main(["check", str(tmp_path)]) == 0
    assert schemas.write(tmp_path) == []  # stable output

    target = tmp_path / "io.ripple.eventreport.v1.json"
    target.write_text(target.read_text().replace('"complete"', '"completed"'))
    (tmp_path / "io.ripple.assignment.v1.json").unlink()
    (tmp_path / "io.ripple.old.v0.json").write_text("{}")
    capsys.readouterr()
    assert schemas.main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "stale: " in out and "io.ripple.eventreport.v1.json" in out
    assert "missing: " in out and "io.ripple.assignment.v1.json" in out
    assert "unexpected: " in out and "io.ripple.old.v0.json" in out


def test_usage() -> None:
    assert schemas.main([]) == 2
    assert schemas.main(["frobnicate", "x"]) == 2


def test_schema_content() -> None:
    schema = json.loads(schemas.render()["io.ripple.eventreport.v1.json"])
    assert schema["$id"].endswith("io.ripple.eventreport.v1.json")
    assert schema["properties"]["type"]["const"] == "io.ripple.eventreport.v1"
    report = schema["$defs"]["EventReportSnapshot"]["properties"]
    assert {"matchingResources", "complete", "generation", "agentInstance"} <= set(report)


def test_committed_schemas_are_current() -> None:
    assert schemas.check(REPO / "docs" / "schemas") == []
