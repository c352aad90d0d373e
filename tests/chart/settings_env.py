"""The environment variables a service reads (its typed settings), for checking what the
chart and docker-compose.yml set."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices

from services.agent.settings import AgentSettings
from services.manager.settings import ManagerSettings
from services.reporter.settings import ReporterSettings
from shared.runtime.settings import ServiceSettings

SETTINGS: dict[str, type[ServiceSettings]] = {
    "manager": ManagerSettings,
    "reporter": ReporterSettings,
    "agent": AgentSettings,
}


def known_variables(cls: type[ServiceSettings]) -> set[str]:
    """Every variable name ``cls`` reads (``RIPPLE_<FIELD>``, and the aliases)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    out: set[str] = set()
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            out |= {str(c).upper() for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            out.add(alias.upper())
        else:
            out.add(f"{prefix}{name}".upper())
    return out


def build(cls: type[ServiceSettings], env: dict[str, str]) -> ServiceSettings:
    """The settings ``cls`` builds from exactly ``env`` (validated as the service would)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    values: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        names = {f"{prefix}{name}".upper()}
        if isinstance(info.validation_alias, AliasChoices):
            names |= {str(c).upper() for c in info.validation_alias.choices}
        for var in names & set(env):
            values[name] = env[var]
    return cls.model_validate(values)
