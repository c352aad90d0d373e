"""The reporter's settings (``ripple reporter --help``)."""

from __future__ import annotations

from pydantic import Field

from shared.runtime.settings import KUBECONFIG, ServiceSettings


class ReporterSettings(ServiceSettings):
    kubeconfig: str | None = Field(
        None, validation_alias=KUBECONFIG, description="Management cluster kubeconfig."
    )
    workers: int = Field(4, ge=1, le=64, description="Concurrent Kubernetes writers.")
