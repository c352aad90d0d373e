"""Registers every sub-command module on the ``ripple`` Typer app.

Each module listed here exposes ``register(app)``; it owns its own options and help text.
"""

from __future__ import annotations

import importlib

import typer

#: modules providing ``register(app: typer.Typer) -> None``, in --help order
MODULES = [
    "services.tools.lint",
    "services.tools.validate",
    "services.tools.render",
    "services.tools.fleet",
    "services.tools.scenario",
    "services.tools.demo",
    "services.tools.natsconfig",
    "services.tools.run",
    "services.tools.runmanagement",
    "services.tools.webhook",
]


def register(app: typer.Typer) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)
