"""The agent's status lines and readiness (pure)."""

from __future__ import annotations

from services.agent.assigning import Assignments
from services.agent.status import QueueFailures, errors, not_ready
from services.agent.watching import WatchKey
from shared.kube import GVK
from shared.runtime.workqueue import Failure
from tests.agent.helpers import event_source

SERVICE = WatchKey(GVK("v1", "Service"))
SECRET = WatchKey(GVK("v1", "Secret"))


def test_errors_name_their_event_source_profile_or_watch() -> None:
    a = Assignments("c")
    a.put("svc", event_source())
    a.put("bad", {"kind": "EventSource"})
    lines = errors(
        a,
        {SERVICE: "list failed: 503", SECRET: "forbidden"},
        [
            QueueFailures(
                "apply/removal",
                {"p": Failure("apply failed: no CRD", 2, 0.0, retry_in=0.4)},
                "profile",
            ),
            QueueFailures(
                "report publication", {"svc": Failure("too big", 1, 0.0, True)}, "EventSource"
            ),
        ],
    )
    assert lines[0].startswith("EventSource bad: ")
    assert lines[1:] == [
        "EventSource svc: list failed: 503",
        "watch v1/Secret: forbidden",
        "profile p: apply/removal failed: apply failed: no CRD (attempt 2, retry in 0.4s)",
        "EventSource svc: report publication failed: too big (not retried)",
    ]


def test_ready_once_inputs_are_read_profiles_handled_and_reports_published() -> None:
    a = Assignments("c")
    state = a.put("svc", event_source()).state
    assert state is not None

    def reason(
        assignments_synced: bool = True, desired_synced: bool = True, initial_profiles: int = 0
    ) -> str:
        return not_ready(
            a,
            assignments_synced=assignments_synced,
            desired_synced=desired_synced,
            initial_profiles=initial_profiles,
        )

    assert reason(assignments_synced=False) == "reading assignments"
    assert reason(desired_synced=False) == "reading desired state"
    assert reason(initial_profiles=2) == "applying 2 profile(s) found at start-up"
    assert reason() == "reports not complete yet: svc"
    state.published = True
    assert reason() == ""


def test_an_event_source_whose_informer_fails_does_not_hold_readiness() -> None:
    """A tenant's EventSource its identity may not list (403, retried, in the status) never
    keeps the agent from being ready: one bad definition never stops the others."""
    a = Assignments("c")
    a.put("svc", event_source())
    a.put("other", event_source(kind="Deployment"))
    failing = a.sources["svc"].watch_keys[:1]
    kwargs = {"assignments_synced": True, "desired_synced": True, "initial_profiles": 0}
    assert not_ready(a, **kwargs) == "reports not complete yet: other, svc"
    assert not_ready(a, **kwargs, failing=failing) == "reports not complete yet: other"
    a.sources["other"].published = True
    assert not_ready(a, **kwargs, failing=failing) == ""


def test_evaluations_out_of_time_or_waiting_show_on_their_event_source() -> None:
    from shared.api.vocabulary import ObjectKey

    a = Assignments("c")
    state = a.put("svc", event_source()).state
    assert state is not None
    key = ObjectKey("v1", "Service", "default", "big")
    state.timed_out.add(key)
    state.errors[key] = "EventSource 'svc': evaluation abandoned after 2 s (the time limit)"
    state.errors[key._replace(name="other")] = "EventSource 'svc': line 3: boom"
    state.deferred[key] = {"metadata": {"name": "big"}}
    (line,) = errors(a, {})
    assert line == (
        "EventSource svc: evaluation failed for 2 object(s), kept in their previous state: "
        "Service default/big: evaluation abandoned after 2 s (the time limit) (and 1 more); "
        "evaluation abandoned at the time limit for Service default/big (evaluated again "
        "with backoff); 1 object(s) waiting to be evaluated"
    )
