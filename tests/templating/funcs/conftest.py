"""Fixtures for the function-library tests: the function maps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.funcs import function_map


@pytest.fixture(scope="session")
def fn() -> dict[str, Callable[..., Any]]:
    """The ``sveltos`` set (sprig + libsveltos + event-manager)."""
    return function_map("sveltos")


@pytest.fixture(scope="session")
def sprig() -> dict[str, Callable[..., Any]]:
    return function_map("sprig")
