"""--lease and --lease-ttl (RIPPLE_LEASE, RIPPLE_LEASE_TTL) of the manager and the reporter,
and the lease a manager's replicas share."""

from __future__ import annotations

import pytest

from services.manager.service import lease_role
from services.manager.settings import ManagerSettings
from services.reporter.settings import ReporterSettings
from shared.runtime.errors import InvalidSetting
from shared.runtime.settings import load


def test_a_single_replica_takes_no_lease_by_default() -> None:
    for cls in (ManagerSettings, ReporterSettings):
        settings = load(cls)
        assert settings.lease is False and settings.lease_ttl == 3.0


def test_lease_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPPLE_LEASE", "true")
    monkeypatch.setenv("RIPPLE_LEASE_TTL", "5")
    settings = load(ReporterSettings)
    assert settings.lease is True and settings.lease_ttl == 5.0


def test_a_ttl_below_one_second_is_refused_naming_the_setting() -> None:
    with pytest.raises(InvalidSetting, match=r"lease_ttl.*RIPPLE_LEASE_TTL"):
        load(ManagerSettings, lease_ttl=0.5)


def test_the_manager_lease_is_per_shard() -> None:
    assert lease_role(load(ManagerSettings)) == "manager"
    assert (
        lease_role(load(ManagerSettings, shards=2, shard_id="eu-1", lease=True)) == "manager-eu-1"
    )
    with pytest.raises(InvalidSetting, match="--shard-id"):
        lease_role(load(ManagerSettings, shards=2, lease=True))
