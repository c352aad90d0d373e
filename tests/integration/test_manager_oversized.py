"""Issue 12 acceptance (b): a template that renders a profile over the NATS message limit,
next to a good trigger. The good one keeps working (its add-on deployed, later events still
deploy), the bad one's error shows in its status (REST and the EventTrigger status the
reporter writes), and the manager stays up across a kill -9 and restart (it used to exit in
its reconcile, again after every restart). Real processes, real NATS, the simulated fleet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.scenario.stack import Stack
from shared.contract.limits import MAX_PAYLOAD
from tests.reliability.helpers import (
    EVENT_TRIGGER,
    Http,
    config_map,
    event_source,
    event_trigger,
    eventually,
    fleet_of,
    kill9,
    policies,
    policy_set,
    rest,
    restart,
    service,
    stays,
)

CLUSTER = "default/cluster-ov"
GOOD, BAD = "ov-good", "ov-bad"
KEYS = 5  # each data key renders ~0.9 MB (templates are capped at 1 MiB of output each)


def oversized_template(key: int) -> str:
    return (
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        f"  name: big-{key}-{{{{ .Resource.metadata.name }}}}\n"
        "  namespace: default\n"
        "data:\n"
        '  blob: {{ repeat 900000 "x" }}\n'
    )


def bad_definitions() -> list[dict[str, Any]]:
    cm = config_map(BAD, "")
    cm["data"] = {f"part-{i}.yaml": oversized_template(i) for i in range(KEYS)}
    return [event_source(BAD, f"{BAD}-svc"), cm, event_trigger(BAD, BAD, "ov", BAD)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(fleet_of(("ov",)), None, state_dir=tmp_path_factory.mktemp("oversized")) as s:
        s.apply_management(policy_set(GOOD, "ov", f"{GOOD}-svc") + bad_definitions())
        yield s


def bad_errors(api: Http) -> list[str]:
    status, body = api.call("GET", f"/v1/triggers/{BAD}")
    return list(body["errors"]) if status == 200 else []


def oversize_reported(errors: list[str]) -> bool:
    return any("over the" in e and "byte message limit" in e for e in errors)


def test_oversized_profile_is_an_error_of_its_trigger_and_the_good_one_keeps_working(
    stack: Stack,
) -> None:
    client = stack.client(CLUSTER)
    api = rest(stack, token=None)
    client.apply(service("web-1", f"{GOOD}-svc"))
    client.apply(service("huge-1", f"{BAD}-svc"))
    eventually(lambda: policies(client, GOOD) == {f"{GOOD}-web-1"}, 30, what="good add-on")

    eventually(lambda: oversize_reported(bad_errors(api)), 30, what="the error in REST")
    message = next(e for e in bad_errors(api) if "over the" in e)
    assert "profile sveltos-" in message, message
    limit = int(message.split("over the ")[1].split("-byte")[0])
    assert limit <= MAX_PAYLOAD
    size = int(message.split(" is ")[1].split(" bytes")[0])
    assert size > limit
    failures = api.get("/v1/publication")
    assert failures and all(f["terminal"] for f in failures)
    assert {f["definition"] for f in failures} == {f"EventTrigger/{BAD}"}

    def crd_status() -> str:
        obj = stack.management.get(EVENT_TRIGGER, None, BAD) or {}
        return str((obj.get("status") or {}).get("failureMessage") or "")

    assert "byte message limit" in eventually(crd_status, 30, what="EventTrigger status")
    assert api.get(f"/v1/triggers/{GOOD}")["errors"] == []

    client.apply(service("web-2", f"{GOOD}-svc"))  # a later event still deploys
    eventually(
        lambda: policies(client, GOOD) == {f"{GOOD}-web-1", f"{GOOD}-web-2"},
        30,
        what="a later event deployed",
    )
    assert stack.processes["manager"].running


def test_the_manager_stays_up_across_a_restart(stack: Stack) -> None:
    client = stack.client(CLUSTER)
    before = policies(client, GOOD)
    assert before, "the first test deploys the good add-on"
    kill9(stack, "manager")
    restart(stack, "manager")  # waits for its ready file
    api = rest(stack, token=None)
    stays(lambda: stack.processes["manager"].running, 1500, what="manager running")
    eventually(lambda: oversize_reported(bad_errors(api)), 30, what="error shown again")
    assert policies(client, GOOD) == before, "nothing withdrawn by the restart"
    client.apply(service("web-3", f"{GOOD}-svc"))
    eventually(
        lambda: policies(client, GOOD) == before | {f"{GOOD}-web-3"},
        30,
        what="deployed after the restart",
    )
    assert stack.processes["manager"].running
