"""``ripple explain``'s text output: a verdict line first, then one block per trigger (or per
origin of a deployed object)."""

from __future__ import annotations

from services.manager.explanations import (
    EvaluationOut,
    Explanation,
    InstanceOut,
    Provenance,
    TriggerBlock,
)


def render(answer: Explanation | Provenance) -> str:
    if isinstance(answer, Provenance):
        return _provenance(answer)
    lines = [
        f"VERDICT: {answer.verdict.upper()} - {answer.summary}",
        f"{answer.subject} in cluster {answer.cluster} ({answer.mode})",
    ]
    lines += [f"note: {n}" for n in answer.notes]
    for block in answer.triggers:
        lines.append("")
        lines += _block(block)
    if answer.unused_event_sources:
        lines.append("")
        names = ", ".join(answer.unused_event_sources)
        lines.append(f"EventSource(s) watching it that no trigger uses: {names}")
    return "\n".join(lines)


def _block(b: TriggerBlock) -> list[str]:
    out = [
        f"{b.kind} {b.trigger}: {b.verdict.upper()}",
        f"  why: {b.reason}",
        f"  cluster: {b.cluster_reason}",
    ]
    if b.evaluation is not None:
        out += _evaluation(b.event_source, b.evaluation)
    for inst in b.instances:
        out += _instance(inst)
    out += [f"  trigger error: {e}" for e in b.errors]
    return out


def _evaluation(es: str, e: EvaluationOut) -> list[str]:
    out = [f"  EventSource {es}: {e.verdict} (decided by {e.decided_by}) {e.message}".rstrip()]
    if e.error:
        out.append(f"    error: {e.error}")
    for s in e.selectors:
        head = f"    resourceSelectors[{s.index}] {s.api_version}/{s.kind}"
        uses = f" [{', '.join(s.uses)}]" if s.uses else ""
        if not s.selects:
            out.append(f"{head}{uses}: does not select it: {s.reason}")
            continue
        verdict = "match" if s.matching else "error" if s.error else "no match"
        said = f": {s.message}" if s.message else ""
        out.append(f"{head}{uses}: selects it; {s.decided_by}: {verdict}{said}")
        if s.error:
            out.append(f"      error: {s.error}")
    for i, why in enumerate(e.criteria):
        out.append(f"    messagingMatchCriteria[{i}]: {why or 'matches'}")
    if e.aggregation:
        out.append(f"    aggregatedSelection: {e.aggregation}")
    if e.matching_set:
        out.append(f"    the agent's matching set: {e.matching_set}")
    return out


def _instance(i: InstanceOut) -> list[str]:
    state = "" if i.live is None else " (held by the manager)" if i.live else " (not planned yet)"
    out = [f"  profile {i.profile}{state}"]
    out.append(f"    source: {i.source_cluster}; destinations: {', '.join(i.destinations)}")
    out += [f"    deploys {o}" for o in i.objects]
    out += [f"    chart {c}" for c in i.charts]
    if i.error:
        out.append(f"    instantiation error: {i.error}")
    if i.note:
        out.append(f"    note: {i.note}")
    for o in i.outcomes:
        when = f" at {o.time.isoformat()}" if o.time is not None else ""
        msg = f": {o.message}" if o.message else ""
        out.append(
            f"    outcome in {o.cluster}: {o.status} (generation {o.generation}, "
            f"{o.objects} object(s), {o.releases} release(s)){when}{msg}"
        )
    return out


def _provenance(p: Provenance) -> str:
    lines = [
        f"VERDICT: {p.verdict.upper()} - {p.summary}",
        f"{p.subject} in cluster {p.cluster} ({p.mode})",
    ]
    for o in p.origins:
        lines.append("")
        lines.append(f"profile {o.profile}")
        lines.append(f"  trigger: {o.trigger_kind or 'trigger'} {o.trigger}")
        lines.append(f"  EventSource: {o.event_source} in source cluster {o.source_cluster}")
        if o.resource:
            labels = f" labels {o.resource_labels}" if o.resource_labels else ""
            lines.append(f"  matching resource: {o.resource}{labels}")
        if o.cloud_event:
            lines.append(f"  CloudEvent: {o.cloud_event}")
        if o.reference:
            lines.append(f"  rendered from: {o.reference}")
        if o.hash_matches is not None:
            lines.append(f"  up to date: {'yes' if o.hash_matches else 'no'}")
        lines.append(f"  destinations: {', '.join(o.destinations)}")
        if o.outcome is not None:
            when = f" at {o.outcome.time.isoformat()}" if o.outcome.time is not None else ""
            lines.append(
                f"  outcome here: {o.outcome.status} (generation {o.outcome.generation}){when}"
            )
        lines += [f"  note: {n}" for n in o.notes]
    return "\n".join(lines)
