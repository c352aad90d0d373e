"""Helpers for the template engine tests."""

from __future__ import annotations

from typing import Any

import pytest

from shared.templating import compile_template


def render(text: str, data: Any = None, **options: Any) -> str:
    """Render with Go's defaults unless told otherwise (builtin functions, missingkey=default)."""
    options.setdefault("funcs", "builtin")
    options.setdefault("missingkey", "default")
    exec_name = options.pop("exec_name", None)
    return compile_template(text, **options).render(data, exec_name=exec_name)


@pytest.fixture
def r() -> Any:
    return render
