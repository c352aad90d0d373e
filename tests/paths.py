"""Where the brief's data lives: ``../shared`` beside the repository (never copied in)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
SCENARIOS = SHARED / "scenarios"
