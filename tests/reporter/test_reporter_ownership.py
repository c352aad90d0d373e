"""Which NATS value wants which management-cluster object (pure, no servers)."""

from __future__ import annotations

from services.reporter.ownership import Ownership
from shared.api.vocabulary import CLUSTER_PROFILE, CONFIG_MAP, EVENT_REPORT, ObjectKey

REPORT = ObjectKey(EVENT_REPORT.api_version, EVENT_REPORT.kind, "default", "sveltos--es--c1")
PROFILE = ObjectKey(CLUSTER_PROFILE.api_version, CLUSTER_PROFILE.kind, "", "sveltos-p1")
CM_A = ObjectKey(CONFIG_MAP.api_version, CONFIG_MAP.kind, "projectsveltos", "a")
CM_B = ObjectKey(CONFIG_MAP.api_version, CONFIG_MAP.kind, "projectsveltos", "b")


def test_a_source_that_stops_wanting_an_object_orphans_it() -> None:
    owners = Ownership()
    assert owners.want("profiles/p1", [PROFILE, CM_A, CM_B]) == set()
    assert owners.want("profiles/p1", [PROFILE, CM_A]) == {CM_B}
    assert owners.wanted(CM_A) and not owners.wanted(CM_B)
    assert owners.drop("profiles/p1") == {PROFILE, CM_A}
    assert len(owners) == 0


def test_an_object_wanted_by_two_sources_lives_until_both_are_gone() -> None:
    owners = Ownership()
    owners.want("profiles/p1", [CM_A])
    owners.want("profiles/p2", [CM_A])
    assert owners.drop("profiles/p1") == set()
    assert owners.wanted(CM_A)
    assert owners.drop("profiles/p2") == {CM_A}


def test_a_held_source_protects_its_objects_and_keeps_what_it_wanted_before() -> None:
    owners = Ownership()
    assert owners.hold("reports/k", [REPORT]) == set()  # new and unknown: protected
    assert owners.wanted(REPORT) and owners.held() == {"reports/k"}
    assert owners.want("reports/k", [REPORT]) == set()  # known now
    assert owners.held() == set()
    other = REPORT._replace(name="other")
    assert owners.hold("reports/k", [other]) == set()  # unknown again: nothing changes
    assert owners.keys_of("reports/k") == {REPORT}
    assert not owners.wanted(other)


def test_identity_ignores_the_version() -> None:
    owners = Ownership()
    owners.want("profiles/p1", [PROFILE])
    assert owners.wanted(PROFILE._replace(api_version="config.projectsveltos.io/v1alpha1"))
    moved = PROFILE._replace(api_version="config.projectsveltos.io/v1alpha1")
    assert owners.want("profiles/p1", [moved]) == set()  # the same object: not an orphan
    assert owners.wanted(PROFILE)


def test_dropping_an_unknown_source_is_a_no_op() -> None:
    owners = Ownership()
    assert owners.drop("reports/never-seen") == set()
