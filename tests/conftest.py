"""Shared pytest fixtures; the code lives in ``tests/fixtures``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Hypothesis keeps its example database and caches outside the repository: a `.hypothesis`
# directory under the root would be walked during collection (pyproject replaces pytest's
# default norecursedirs) and its warning is an error under filterwarnings=error.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY",
    str(Path(tempfile.gettempdir()) / f"ripple-hypothesis-{os.getuid()}"),
)

pytest_plugins = ["tests.fixtures.nats"]
