"""A problem found in a definition by the static checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


def format_path(path: tuple[str | int, ...]) -> str:
    """``("spec", "policyRefs", 0, "name")`` -> ``spec.policyRefs[0].name``; a key with a dot
    or a slash in brackets: ``data[svc.yaml]``."""
    text = ""
    for part in path:
        if isinstance(part, int) or "." in part or "/" in part:
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: where (the path from the object's root, as the user wrote it; the line
    inside a script or template when known), what, and how grave.

    ``error``: the definition cannot work as written (the manager refuses it and keeps the
    last valid version); ``warning``: it is used, and the warning shows in its status.
    """

    path: tuple[str | int, ...]
    message: str
    severity: Severity = "error"
    line: int | None = None  # 1-based, inside the script/template at ``path``

    @property
    def field(self) -> str:
        return format_path(self.path)

    def text(self) -> str:
        """``spec.profileNameFormat: line 2: unclosed action`` (no file, no object)."""
        at = f"line {self.line}: " if self.line is not None else ""
        return f"{self.field}: {at}{self.message}"
