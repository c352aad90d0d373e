"""Why did (or didn't) an object or a CloudEvent fire: the pure core of ``ripple explain``.

Given an object in a cluster (or a CloudEvent) and a :class:`World` (definitions, clusters,
matching sets, and on the running system the profiles and apply outcomes the manager holds),
:func:`explain` answers for every trigger that could concern it, with the engines and the
planning code the agents and the manager use (so profile names and destinations are the
manager's): whether the trigger selects the cluster, what the EventSource decided and why,
the instances and profiles it yields, their destinations, and each apply outcome.

Stale or unknown is never "no match": an evaluation error, a matching set not known yet, a
missing input make the verdict ``unknown``. A trigger's failure never hides another's.
"""

from __future__ import annotations

from typing import Any

from services.manager import planning
from services.manager.errors import InstantiationError
from services.manager.explainplans import candidates, keys_of, plan
from services.manager.explainworld import (
    Compiler,
    SetView,
    Subject,
    World,
    selector_out,
)
from services.manager.explanations import (
    DOES_NOT_FIRE,
    FIRES,
    UNKNOWN,
    EvaluationOut,
    Explanation,
    TriggerBlock,
)
from services.manager.model import ClusterInfo, ClusterKey
from services.manager.planning import TriggerView
from shared.api.vocabulary import ObjectKey
from shared.evaluation import CompiledEventSource
from shared.evaluation import explaining as ev


def explain(
    world: World, cluster: ClusterKey, subject: Subject, only: str = "", every: bool = False
) -> Explanation:
    """The answer for ``subject`` in ``cluster`` (``only``: that trigger; ``every``: every
    trigger, not only those whose EventSource watches the subject's kind)."""
    compiler = Compiler(world.event_sources)
    info = world.clusters.get(cluster)
    blocks: list[TriggerBlock] = []
    used: set[str] = set()
    for name in sorted(world.triggers):
        if only and name != only:
            continue
        trigger = world.triggers[name]
        block = _trigger_block(world, compiler, trigger, cluster, info, subject)
        used.add(block.event_source)
        if every or only or _concerns(compiler, block.event_source, subject):
            blocks.append(block)
    notes = []
    if info is None:
        notes.append(f"cluster {cluster} is not registered: no trigger selects it")
    meta = (subject.obj or {}).get("metadata") or {}
    if subject.obj is not None and not meta.get("namespace"):
        notes.append(
            "metadata.namespace is not set: explained as given (a namespaced object gets the "
            "namespace it is created in; -n sets it)"
        )
    if only and only not in world.triggers:
        notes.append(f"trigger {only!r} not found")
    notes += [
        f"{ident} does not load: {why}" for ident, why in sorted(world.definition_errors.items())
    ]
    used.update(t.event_source_name for t in world.triggers.values())
    unused = (
        []
        if only
        else sorted(
            n for n in world.event_sources if n not in used and _concerns(compiler, n, subject)
        )
    )
    verdicts = [b.verdict for b in blocks]
    verdict = FIRES if FIRES in verdicts else UNKNOWN if UNKNOWN in verdicts else DOES_NOT_FIRE
    firing = [b.trigger for b in blocks if b.verdict == FIRES]
    if firing:
        profiles = sum(len(b.instances) for b in blocks if b.verdict == FIRES)
        summary = f"fires {', '.join(firing)} ({profiles} profile(s))"
    elif verdict == UNKNOWN:
        summary = "unknown: " + "; ".join(b.reason for b in blocks if b.verdict == UNKNOWN)
    elif blocks:
        summary = f"no trigger fires ({len(blocks)} could concern it)"
    else:
        summary = "no trigger concerns it (no EventSource of its triggers watches its kind)"
    return Explanation(
        mode="live" if world.live else "offline",
        cluster=str(cluster),
        subject=subject.describe(),
        verdict=verdict,
        summary=summary,
        triggers=blocks,
        unused_event_sources=unused,
        notes=notes,
    )


def _concerns(compiler: Compiler, es_name: str, subject: Subject) -> bool:
    compiled = compiler.get(es_name)
    if isinstance(compiled, str):
        return True  # an EventSource that does not load concerns everything it could watch
    if subject.cloud_event is not None:
        return bool(compiled.source.spec.messaging_match_criteria)
    assert subject.key is not None
    return any(
        (f.api_version, f.kind) == (subject.key.api_version, subject.key.kind)
        for f, _, _ in compiled.selector_filters()
    )


def _trigger_block(
    world: World,
    compiler: Compiler,
    trigger: TriggerView,
    cluster: ClusterKey,
    info: ClusterInfo | None,
    subject: Subject,
) -> TriggerBlock:
    base: dict[str, Any] = {
        "trigger": trigger.name,
        "kind": trigger.kind,
        "event_source": trigger.event_source_name,
        "one_for_event": trigger.one_for_event,
        "errors": list(world.trigger_errors.get(trigger.name, ())),
    }
    problem = world.definition_errors.get(f"{trigger.kind}/{trigger.name}")
    if problem:  # the manager keeps using its last valid version
        base["errors"].append(f"its latest version does not load: {problem}")
    selected, why = _selects(trigger, info)
    if info is None or not selected:
        return TriggerBlock(
            **base,
            verdict=DOES_NOT_FIRE,
            reason=why,
            cluster_selected=False,
            cluster_reason=why,
        )
    try:
        es_name = planning.event_source_for_cluster(trigger, info)
    except InstantiationError as exc:
        return TriggerBlock(
            **base, verdict=UNKNOWN, reason=str(exc), cluster_selected=True, cluster_reason=why
        )
    base["event_source"] = es_name
    compiled = compiler.get(es_name)
    es_problem = world.definition_errors.get(f"EventSource/{es_name}")
    if isinstance(compiled, str):
        reason = compiled + (f": {es_problem}" if es_problem else "")
        return TriggerBlock(
            **base, verdict=UNKNOWN, reason=reason, cluster_selected=True, cluster_reason=why
        )
    if es_problem:
        base["errors"].append(
            f"EventSource {es_name}: its latest version does not load ({es_problem}); "
            "its last valid version is used"
        )
    evaluation = evaluate(world, compiled, cluster, es_name, subject)
    block = {**base, "cluster_selected": True, "cluster_reason": why, "evaluation": evaluation}
    if evaluation.verdict == ev.UNKNOWN:
        reason = evaluation.error or evaluation.message
        return TriggerBlock(**block, verdict=UNKNOWN, reason=reason)
    if evaluation.verdict != ev.MATCH:
        return TriggerBlock(**block, verdict=DOES_NOT_FIRE, reason=evaluation.message)
    instances, note, known = plan(world, trigger, info, es_name, compiled, subject)
    if not instances:
        verdict = DOES_NOT_FIRE if known else UNKNOWN
        return TriggerBlock(**block, verdict=verdict, reason=note or "no instance")
    errors = [i.error for i in instances if i.error]
    reason = f"{evaluation.message}: {len(instances)} profile(s)"
    if errors and len(errors) == len(instances):
        reason = f"{evaluation.message}, but instantiation fails: {errors[0]}"
    return TriggerBlock(**block, verdict=FIRES, reason=reason, instances=instances)


def _selects(trigger: TriggerView, info: ClusterInfo | None) -> tuple[bool, str]:
    if info is None:
        return False, "the cluster is not registered"
    sel = trigger.source_selector
    shown = sel.to_string() or "{}"
    if sel.is_empty():
        return False, "sourceClusterSelector is empty: it selects no cluster"
    if not sel.matches(info.labels):
        return False, f"sourceClusterSelector {shown!r} does not select it (labels {info.labels})"
    return True, f"sourceClusterSelector {shown!r} selects it"


# -- the EventSource's verdict ----------------------------------------------------------------
def evaluate(
    world: World, compiled: CompiledEventSource, cluster: ClusterKey, es: str, subject: Subject
) -> EvaluationOut:
    """The EventSource's verdict on the subject in ``cluster`` (live: and what the agent's
    matching set says; an object named without its content: the set alone decides)."""
    view = world.sets.get((cluster, es))
    said = _set_says(view, subject) if world.live else ""
    if subject.cloud_event is not None:
        ce = ev.explain_cloud_event(compiled, subject.nats_subject, subject.cloud_event)
        return EvaluationOut(
            verdict=ce.verdict,
            decided_by="messagingMatchCriteria",
            message=ce.message,
            criteria=list(ce.criteria),
            matching_set=said,
        )
    assert subject.key is not None
    if subject.obj is None:
        return _from_set(view, subject.key, said)
    v = ev.explain_object(compiled, subject.obj)
    out = EvaluationOut(
        verdict=v.verdict,
        decided_by=v.decided_by,
        message=v.message,
        error=v.error,
        selectors=[selector_out(c) for c in v.selectors],
        matching_set=said,
    )
    if v.verdict != ev.MATCH or not compiled.has_aggregation:
        return out
    if world.live:  # the agent aggregates over candidates the manager does not hold
        if view is None or not view.known:
            return out.model_copy(
                update={
                    "verdict": ev.UNKNOWN,
                    "decided_by": "aggregatedSelection",
                    "aggregation": "run by the agent; its matching set is not known yet",
                }
            )
        inside = subject.key in keys_of(view.report)
        return out.model_copy(
            update={
                "verdict": ev.MATCH if inside else ev.NO_MATCH,
                "decided_by": "aggregatedSelection",
                "aggregation": "run by the agent over the cluster's candidates: "
                + ("it is in the set" if inside else "it is not in the set"),
            }
        )
    agg = ev.explain_aggregation(
        compiled, candidates(world, compiled, cluster, subject), subject.obj
    )
    return out.model_copy(
        update={
            "verdict": agg.verdict,
            "decided_by": "aggregatedSelection",
            "message": agg.message,
            "error": agg.error,
            "aggregation": f"{agg.size} object(s) in the set: {agg.message}",
        }
    )


def _set_says(view: SetView | None, subject: Subject) -> str:
    if view is None:
        return "no matching set from the agent (yet)"
    if not view.known:
        return "the agent's matching set is not known yet (no complete report)"
    if subject.cloud_event is not None:
        ids = {str(ce.get("id")) for ce in view.report.cloud_events}
        held = str(subject.cloud_event.get("id")) in ids
        return "holds this CloudEvent" if held else "does not hold this CloudEvent"
    assert subject.key is not None
    if subject.key in view.errors:
        return f"evaluation error in the agent: {view.errors[subject.key]}"
    return "holds it" if subject.key in keys_of(view.report) else "does not hold it"


def _from_set(view: SetView | None, key: ObjectKey, said: str) -> EvaluationOut:
    """An object named only: the agent's matching set decides (unknown when it is not known)."""
    if view is None or not view.known:
        return EvaluationOut(verdict=ev.UNKNOWN, decided_by="matching set", message=said)
    if key in view.errors:
        return EvaluationOut(
            verdict=ev.UNKNOWN, decided_by="error", message="", error=view.errors[key]
        )
    if key in keys_of(view.report):
        message = "the agent's matching set holds it (evaluated in the cluster)"
        return EvaluationOut(verdict=ev.MATCH, decided_by="matching set", message=message)
    message = (
        "the agent's matching set does not hold it (no match, or no such object; give the "
        "object, or --kubeconfig, to see which filter refuses it)"
    )
    return EvaluationOut(verdict=ev.NO_MATCH, decided_by="matching set", message=message)
