"""The reporter's settings (``ripple reporter --help``)."""

from __future__ import annotations

from pydantic import Field

from services.reporter.mirroring import REPORT_BUDGET
from shared.runtime.liveness import LivenessSettings
from shared.runtime.settings import KUBECONFIG, ServiceSettings
from shared.runtime.standby import LeaseSettings


class ReporterSettings(ServiceSettings, LivenessSettings, LeaseSettings):
    kubeconfig: str | None = Field(
        None, validation_alias=KUBECONFIG, description="Management cluster kubeconfig."
    )
    workers: int = Field(4, ge=1, le=64, description="Concurrent Kubernetes writers.")
    write_delay: float = Field(
        1.0,
        ge=0,
        le=60,
        description=(
            "Seconds a changed object waits before it is written: the changes within the "
            "delay are one write (0: write at once)."
        ),
    )
    report_budget: int = Field(
        REPORT_BUDGET,
        ge=64 * 1024,
        le=3 * 1024 * 1024,
        description=(
            "Bytes an EventReport may take: beyond it the collected objects, then the "
            "references over the budget, are left out (the status says so)."
        ),
    )
