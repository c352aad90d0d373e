"""Shared pytest fixtures; the code lives in ``tests/fixtures``."""

pytest_plugins = ["tests.fixtures.nats"]
