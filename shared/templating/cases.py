"""Runner of template case files (the corpus format of go-templates.json and
sveltos-templates.json): one verdict per case, deviations read from ``deviations.yaml``.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.templating.engine import compile_template
from shared.templating.errors import TemplateError
from shared.templating.values import object_reference

__all__ = [
    "DEVIATIONS_FILE",
    "CaseResult",
    "case_data",
    "load_cases",
    "load_deviations",
    "normalise_numbers",
    "run_case",
    "run_cases",
]

DEVIATIONS_FILE = Path(__file__).with_name("deviations.yaml")

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    status: str  # PASS | FAIL | DEVIATION
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"

    def line(self) -> str:
        if self.status == "PASS":
            return f"PASS {self.name}"
        return f"{self.status} {self.name}: {self.reason}"


def load_deviations(path: Path | None = None) -> dict[str, str]:
    """Case name -> one-line reason."""
    p = path or DEVIATIONS_FILE
    if not p.exists():
        return {}
    doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for entry in doc.get("deviations", []):
        out[str(entry["name"])] = str(entry["reason"])
    return out


def load_cases(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    cases = doc["cases"] if isinstance(doc, dict) else doc
    return list(cases)


def normalise_numbers(v: Any, mode: str = "k8s") -> Any:
    """k8s: integers stay int64 (float beyond int64); float64: every number is a float."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        if mode == "float64" or not _INT64_MIN <= v <= _INT64_MAX:
            return float(v)
        return v
    if isinstance(v, dict):
        return {k: normalise_numbers(x, mode) for k, x in v.items()}
    if isinstance(v, list):
        return [normalise_numbers(x, mode) for x in v]
    return v


def case_data(case: dict[str, Any]) -> Any:
    """The template data of a case (Sveltos' structs for cases with a ``mode``)."""
    options = case.get("options") or {}
    data = normalise_numbers(case.get("data"), options.get("numbers", "k8s"))
    mode = case.get("mode")
    if mode is None or not isinstance(data, dict):
        return data
    if mode == "per-resource":
        out: dict[str, Any] = {
            "MatchingResource": object_reference(data.get("MatchingResource") or {}),
            "Resource": data.get("Resource") or {},
            "CloudEvent": data.get("CloudEvent") or {},
            "Cluster": data.get("Cluster") or {},
        }
        return out
    if mode == "all-resources":
        return {
            "MatchingResources": [object_reference(r) for r in data.get("MatchingResources") or []],
            "Resources": data.get("Resources") or [],
            "CloudEvents": data.get("CloudEvents") or [],
            "Cluster": data.get("Cluster") or {},
        }
    return data


def _render_case(case: dict[str, Any]) -> str:
    options = case.get("options")
    mode = case.get("mode")
    data = case_data(case)
    if options is None:
        tmpl = compile_template(
            case["template"],
            name="tpl",
            funcs="sveltos",
            missingkey="error",
            txt=bool(case.get("useTxtFuncMap")),
            html=mode == "cluster-html",
        )
        return tmpl.render(data)
    extra = [(e["name"], e["template"]) for e in options.get("extra") or []]
    tmpl = compile_template(
        case["template"],
        name=options.get("tname", "tpl"),
        funcs=options.get("funcs", "sveltos"),
        missingkey=options.get("missingkey", "default"),
        delims=tuple(options.get("delims") or ("{{", "}}")),
        extra=extra,
    )
    return tmpl.render(data, exec_name=options.get("exec"))


def _short(s: str, n: int = 160) -> str:
    r = repr(s)
    return r if len(r) <= n else r[:n] + "..."


def run_case(case: dict[str, Any], deviations: dict[str, str] | None = None) -> CaseResult:
    name = str(case["name"])
    deviation = (deviations or {}).get(name)
    try:
        got = _render_case(case)
        err: TemplateError | None = None
    except TemplateError as exc:
        got, err = "", exc
    except Exception as exc:  # an engine bug: report it, keep running the file
        got, err = "", None
        result = CaseResult(name, "FAIL", f"internal error {type(exc).__name__}: {exc}")
        return CaseResult(name, "DEVIATION", deviation) if deviation else result
    expected_error = case.get("expected_error")
    if expected_error:
        ok = err is not None
        reason = "" if ok else f"expected an error ({expected_error}), got {_short(got)}"
    elif err is not None:
        ok = False
        reason = f"unexpected error: {err}"
    elif "expected_b64" in case and case.get("expected") is None:
        want = base64.b64decode(case["expected_b64"])
        ok = got.encode("utf-8", "surrogateescape") == want
        reason = "" if ok else f"got {_short(got)}, want bytes {want!r}"
    else:
        want_s = case.get("expected") or ""
        ok = got == want_s
        reason = "" if ok else f"got {_short(got)}, want {_short(want_s)}"
    if ok:
        return CaseResult(name, "PASS")
    if deviation:
        return CaseResult(name, "DEVIATION", deviation)
    return CaseResult(name, "FAIL", reason)


def run_cases(path: Path, deviations: dict[str, str] | None = None) -> Iterator[CaseResult]:
    """Evaluate every case of a file (with TZ=UTC, as the corpus requires)."""
    os.environ["TZ"] = "UTC"
    time.tzset()
    devs = load_deviations() if deviations is None else deviations
    for case in load_cases(path):
        yield run_case(case, devs)
