"""Typed settings of the services (pydantic-settings, environment prefix ``RIPPLE_``).

The CLI builds a settings object from its flags (flags win over the environment) and hands
it, typed, to the service; nothing travels as ``**kwargs``. :func:`load` turns a validation
error into one line naming the setting and its environment variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime.errors import InvalidSetting

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Storage = Literal["file", "memory"]


class ServiceSettings(BaseSettings):
    """What every service needs: NATS and its credentials, readiness, metrics, logs."""

    model_config = SettingsConfigDict(
        env_prefix="RIPPLE_", extra="forbid", frozen=True, populate_by_name=True
    )

    nats_url: str = Field(
        "nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated."
    )
    nats_user: str | None = Field(None, description="NATS user name.")
    nats_password: SecretStr | None = Field(None, description="NATS password.")
    nats_creds: Path | None = Field(None, description="NATS credentials file (JWT + nkey).")
    ready_file: Path | None = Field(None, description="Written once the service is ready.")
    metrics_host: str = Field("127.0.0.1", description="Address of /metrics, /healthz, /readyz.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Port of /metrics, /healthz, /readyz (off when unset)."
    )
    storage: Storage = Field("file", description="JetStream storage of provisioned buckets.")
    log_level: LogLevel = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    shutdown_grace: float = Field(
        3.0, gt=0, le=60, description="Seconds given to a clean shutdown after SIGTERM."
    )
    connect_timeout: float = Field(
        2.0, gt=0, description="Seconds per NATS connection attempt (retried with backoff)."
    )
    gc_sweep: float = Field(
        600.0,
        ge=0,
        le=86400,
        description=(
            "Seconds between two garbage collections of everything; in between, a full "
            "collection skips what survived the last one (shared.runtime.gcpolicy). "
            "0: Python's default collector."
        ),
    )
    otlp_endpoint: str | None = Field(
        None,
        description=(
            "OTLP/HTTP collector receiving the service's traces, e.g. http://collector:4318 "
            "(/v1/traces is added when the URL has no path; tracing is off when unset)."
        ),
    )
    trace_sample_ratio: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of new traces recorded when tracing (a change follows its parent).",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        for url in value.split(","):
            if not url.strip().startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ValueError(f"{url!r} is not a nats://, tls://, ws:// or wss:// URL")
        return value

    @field_validator("otlp_endpoint")
    @classmethod
    def _otlp_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        from shared.runtime.tracing import traces_url

        traces_url(value)  # ValueError: not an http(s) URL
        return value

    @property
    def nats_servers(self) -> list[str]:
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]

    def nats_options(self) -> dict[str, Any]:
        """Credential options for nats-py's ``connect``."""
        opts: dict[str, Any] = {"connect_timeout": self.connect_timeout}
        if self.nats_user:
            opts["user"] = self.nats_user
        if self.nats_password is not None:
            opts["password"] = self.nats_password.get_secret_value()
        if self.nats_creds is not None:
            opts["user_credentials"] = str(self.nats_creds)
        return opts


KUBECONFIG = AliasChoices("kubeconfig", "RIPPLE_KUBECONFIG", "KUBECONFIG")

S = TypeVar("S", bound=ServiceSettings)


def load(cls: type[S], **flags: Any) -> S:
    """Settings from the environment, overridden by the flags that were given (not None).
    Raises :class:`InvalidSetting` with one line per problem."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        raise InvalidSetting(describe(cls, exc)) from None


def describe(cls: type[ServiceSettings], exc: ValidationError) -> str:
    prefix = str(cls.model_config.get("env_prefix", ""))
    lines = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"]) or "settings"
        value = error.get("input")
        shown = (
            ""
            if isinstance(value, dict) or "password" in name or "token" in name
            else (f" (got {value!r})")
        )
        env = f"{prefix}{name.upper()}"
        lines.append(
            f"invalid setting {name} (--{name.replace('_', '-')} / {env}): {error['msg']}{shown}"
        )
    return "; ".join(lines)
