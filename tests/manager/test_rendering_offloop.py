"""Renders run off the manager's loop (issue 16, item 2): while a hostile template spends its
whole budget, rendering by rendering, the REST API keeps answering within its usual latency,
the trigger's status names the bound, the template and the resource, the good trigger next to
it is planned in the same reconcile, and the refusals are counted."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import aiohttp
import pytest

from services.manager.outputs import BUCKETS
from services.manager.planning import PolicyRefView, TriggerView
from services.manager.reconciler import Reconciler
from services.manager.service import serve_api
from services.scenario.processes import free_port
from shared.api.selectors import parse_selector
from shared.templating import Limits
from tests.manager.test_api import TOKEN, MemoryBucket, Source
from tests.manager.test_publication import TEMPLATE, A, new_state, report
from tests.manager.test_publisher import until

HOSTILE = {
    # the input: scrypt (0.15 s, 64 MiB) per call, in C (the GIL is released)
    "derivePassword": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dp-{{ .MatchingResource.Name }}\n"
        "  namespace: default\ndata:\n{{ range $i := until 300 }}"
        '  k{{ $i }}: {{ derivePassword 1 "long" "pw" "u" "s" }}\n{{ end }}'
    ),
    # pure Python work until the budget is spent (the GIL is shared with the loop)
    "python-loop": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: py-{{ .MatchingResource.Name }}\n"
        "  namespace: default\ndata:\n"
        '{{ range $i := until 100000 }}{{ $x := printf "%d-%s" $i (sha256sum "x") }}{{ end }}'
    ),
}
BUDGET = 0.3


def hostile_reconciler(template: str) -> Reconciler:
    """Trigger ``t`` renders the hostile template, trigger ``good`` a plain one, for the
    same two Services of cluster A."""
    state = new_state(template)
    good_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "good", "namespace": "default", "annotations": {}},
        "data": {"policy.yaml": TEMPLATE.replace("for-", "good-")},
    }
    state.set_ref("ConfigMap", "default", "good", good_cm)
    state.set_trigger(
        TriggerView(
            kind="EventTrigger",
            name="good",
            source_selector=parse_selector("env=fv"),
            event_source_name="svc",
            one_for_event=True,
            policy_refs=(PolicyRefView("ConfigMap", "default", "good"),),
            instantiate_all=True,
        )
    )
    report(state, A, "s1", "s2")
    buckets = {b: MemoryBucket() for b in BUCKETS}
    return Reconciler(buckets, limit=1 << 20, state=state, render_limits=Limits(max_seconds=BUDGET))


async def latency(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        assert r.status == 200
        await r.read()
    return time.perf_counter() - started


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_rest_keeps_its_latency_while_a_hostile_template_renders(case: str) -> None:
    rec = hostile_reconciler(HOSTILE[case])
    api_port = free_port()
    gc.freeze()  # as the manager does once ready (full collections skip what was read)
    server = asyncio.create_task(serve_api(Source(rec), "127.0.0.1", api_port, TOKEN))
    url = f"http://127.0.0.1:{api_port}/v1/triggers"
    try:
        async with aiohttp.ClientSession() as session:

            async def answers() -> bool:
                try:
                    await latency(session, url)
                except aiohttp.ClientError:
                    return False
                return True

            await until(answers, what="API answering")
            usual = max([await latency(session, url) for _ in range(10)])

            started = time.perf_counter()
            reconcile = asyncio.create_task(rec.reconcile())
            during: list[float] = []
            while not reconcile.done():
                during.append(await latency(session, url))
                await asyncio.sleep(0.01)
            await reconcile
            took = time.perf_counter() - started

        # two renders spent their budget (the reconcile waited for them, the loop did not)
        assert took >= 2 * BUDGET, took
        assert len(during) >= 5
        print(f"{case}: reconcile {took:.2f} s, REST usual max {usual * 1000:.0f} ms, during "
              f"max {max(during) * 1000:.0f} ms over {len(during)} requests")  # fmt: skip
        assert max(during) < max(0.25, 5 * usual), (usual, sorted(during)[-5:])

        errors = rec.state.status["t"].errors
        assert len(errors) == 2, errors
        for svc in ("s1", "s2"):
            assert any(f"for Service default/{svc}" in e for e in errors), errors
        assert all("render time budget exceeded: the limit is 0.3 s" in e for e in errors), errors
        assert all("ConfigMap/default/tpl data[policy.yaml]" in e for e in errors), errors
        good = sorted(p.name for p in rec.state.profiles.values() if p.trigger == "good")
        assert len(good) == 2
        assert not any(p.error for p in rec.state.profiles.values() if p.trigger == "good")
        metrics = rec.metrics()
        assert metrics["template_refusals_time_total"][2] >= 2
        assert metrics["plan_steps_total"][2] >= 4
    finally:
        gc.unfreeze()
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


def test_a_status_only_change_of_a_definition_is_no_input() -> None:
    """The reporter writes each definition's status; taking that for an input would re-plan
    (re-render) every instance of the trigger at each change of its errors."""
    from services.manager.reconciler import status_only
    from shared.kube import GVK, InformerEvent

    gvk = GVK("lib.projectsveltos.io/v1beta1", "EventTrigger")
    old: dict[str, Any] = {
        "apiVersion": gvk[0],
        "kind": "EventTrigger",
        "metadata": {"name": "t", "resourceVersion": "1", "labels": {"a": "b"}},
        "spec": {"eventSourceName": "svc"},
    }
    status: dict[str, Any] = {**old, "metadata": {**old["metadata"], "resourceVersion": "2"}}
    status["status"] = {"failureMessage": "render time budget exceeded: the limit is 0.5 s"}
    assert status_only(InformerEvent("MODIFIED", gvk, status, old))
    spec = {**status, "spec": {"eventSourceName": "other"}}
    labels = {**status, "metadata": {**status["metadata"], "labels": {}}}
    for changed in (spec, labels):
        assert not status_only(InformerEvent("MODIFIED", gvk, changed, old))
    assert not status_only(InformerEvent("ADDED", gvk, status))
    cm = GVK("v1", "ConfigMap")
    assert not status_only(InformerEvent("MODIFIED", cm, status, old))
