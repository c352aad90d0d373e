"""The status of every definition, as the manager sees it (pure).

A trigger's status: the clusters it selects and what is wrong -- its definition, its
EventSource (invalid, deleted, not found: once, naming the source clusters), its
instantiations (per source cluster), and its outputs that cannot be published (an oversized
profile, a put that keeps failing). An EventSource's status: the clusters it is assigned to,
what its agents report about it (errors, and per-object evaluation errors counted with a few
examples per cluster), and its assignments that cannot be published. A definition that does
not load shows its error first (and keeps the clusters and problems of the version in
force). Last come what a definition asks that Ripple warns about or does not support
(:func:`services.manager.definitions.definition_problems`). docs/status.md says where each
kind of error shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from services.manager.matchsets import MatchSet
from services.manager.model import ClusterKey
from services.manager.outputs import Item, Owner, cluster_ref
from services.manager.sharding import Sharding, merge_errors
from services.manager.state import State
from shared.contract import messages as m
from shared.contract import subjects
from shared.runtime.workqueue import Failure


@dataclass(frozen=True)
class DefinitionView:
    """One definition's status: kind, name, matching clusters and problems (in order)."""

    kind: str
    name: str
    matching_clusters: tuple[ClusterKey, ...] = ()
    errors: tuple[str, ...] = ()
    #: every failing instance of a trigger (``cluster: error``): /v1/errors lists them
    instantiation: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return subjects.status_key(self.kind, self.name)

    def message(self) -> m.DefinitionStatus:
        return m.DefinitionStatus(
            kind=self.kind,
            name=self.name,
            matching_clusters=[cluster_ref(c) for c in self.matching_clusters],
            failure_message="; ".join(self.errors),
        )


def publication_problems(
    failures: Mapping[Item, Failure], owners: Mapping[Item, Owner]
) -> dict[Owner, list[str]]:
    """The failing publications of each definition, one line each (stable across retries:
    attempts and delays are left out, so a retry does not rewrite the status); keys that
    fail alike are one line (a held withdrawal: each key of the hold says the same)."""
    out: dict[Owner, list[str]] = {}
    for item, failure in sorted(failures.items()):
        owner = owners.get(item)
        if owner is None:
            continue
        text = failure.message if failure.terminal else f"{failure.message} (retrying)"
        out.setdefault(owner, []).append(text)
    return {owner: list(dict.fromkeys(lines)) for owner, lines in out.items()}


def definition_views(
    state: State,
    definition_errors: Mapping[str, str],
    agent_errors: Iterable[tuple[str, str]] = (),
    problems: Mapping[Owner, list[str]] | None = None,
    *,
    match_sets: Mapping[tuple[ClusterKey, str], MatchSet] | None = None,
    warnings: Mapping[str, list[str]] | None = None,
) -> dict[str, DefinitionView]:
    """Every known definition's status, by its key in ``ripple-status``.

    ``definition_errors``: ``"Kind/name" -> message`` of definitions that do not load;
    ``agent_errors``: ``(cluster, error)`` as agents report them (``EventSource <name>: ...``
    errors are an EventSource's); ``problems``: failing publications per definition;
    ``match_sets``: the matching sets (their per-object errors are their EventSource's);
    ``warnings``: ``"Kind/name" -> lines`` of what a definition asks that Ripple warns about
    or does not support."""
    problems = problems or {}
    warnings = warnings or {}
    agent_errors = list(agent_errors)
    applies = apply_problems(state, agent_errors)
    evaluation = evaluation_problems(match_sets or {})
    views: dict[tuple[str, str], DefinitionView] = {}
    statuses = state.status
    for name, trigger in state.triggers.items():
        status = statuses.get(name)
        errors = list(status.errors) if status else []
        errors += problems.get((trigger.kind, name), [])
        errors += applies.get(name, [])
        views[(trigger.kind, name)] = DefinitionView(
            trigger.kind,
            name,
            tuple(status.matching_clusters) if status else (),
            tuple(errors),
            tuple(status.instantiation) if status else (),
        )
    by_source: dict[str, list[ClusterKey]] = {}
    for cluster, es in state.assigned:  # a shard's own assignments are fewer
        by_source.setdefault(es, []).append(cluster)
    for name in state.event_sources:
        prefix = f"EventSource {name}:"
        counted = {cluster for cluster, _ in evaluation.get(name, [])}
        errors = [
            f"{cluster}: {line}"
            for cluster, e in agent_errors
            if e.startswith(prefix) and (line := _uncounted(e, prefix, cluster in counted))
        ]
        lines = [line for _, line in evaluation.get(name, [])]
        errors += lines[:MAX_EVALUATION_CLUSTERS]
        if len(lines) > MAX_EVALUATION_CLUSTERS:
            errors.append(
                f"... and {len(lines) - MAX_EVALUATION_CLUSTERS} more clusters with objects "
                "that fail evaluation (GET /v1/reports lists their errors)"
            )
        errors += problems.get(("EventSource", name), [])
        views[("EventSource", name)] = DefinitionView(
            "EventSource", name, tuple(sorted(by_source.get(name, []), key=str)), tuple(errors)
        )
    for ident, error in definition_errors.items():
        kind, _, name = ident.partition("/")
        previous = views.get((kind, name))
        views[(kind, name)] = DefinitionView(
            kind,
            name,
            previous.matching_clusters if previous else (),
            (error, *(previous.errors if previous else ())),
            previous.instantiation if previous else (),
        )
    for ident, lines in warnings.items():
        kind, _, name = ident.partition("/")
        previous = views.get((kind, name))
        if previous is None:
            continue  # not a definition the manager knows (being deleted)
        merged = tuple(dict.fromkeys((*previous.errors, *lines)))
        views[(kind, name)] = DefinitionView(
            kind, name, previous.matching_clusters, merged, previous.instantiation
        )
    return {view.key: view for view in views.values()}


MAX_EXAMPLES = 3
"""Per-object evaluation errors quoted per cluster in an EventSource's status."""
MAX_EVALUATION_CLUSTERS = 20
"""Clusters whose per-object evaluation errors an EventSource's status lists (the others
are counted)."""


def evaluation_problems(
    match_sets: Mapping[tuple[ClusterKey, str], MatchSet],
) -> dict[str, list[tuple[str, str]]]:
    """Per EventSource: ``(cluster, line)`` for each cluster whose agent reports per-object
    evaluation errors (Lua, CEL) in the matching set's head: how many objects fail, and the
    first :data:`MAX_EXAMPLES` of them."""
    out: dict[str, list[tuple[str, str]]] = {}
    for (cluster, es), matches in sorted(match_sets.items(), key=lambda i: (i[0][1], str(i[0][0]))):
        count = max(matches.error_count, len(matches.errors))
        if not count:
            continue
        noise = (f"EventSource {es!r}: ", f"EventSource {es}: ")
        examples = "; ".join(
            f"{e.object.kind} {_where(e.object.namespace, e.object.name)}: "
            f"{_strip(e.message, noise)}"
            for e in matches.errors[:MAX_EXAMPLES]
        )
        more = count - min(len(matches.errors), MAX_EXAMPLES)
        noun = "object fails" if count == 1 else "objects fail"
        line = f"{cluster}: {count} {noun} evaluation (each keeps its previous match state)"
        if examples:
            line += f": {examples}"
        if more > 0 and examples:
            line += f" (+{more} more)"
        out.setdefault(es, []).append((str(cluster), line))
    return out


#: the agent's own summary of the objects that fail (services.agent.evaluating), said better
#: by the matching set's head (counted, examples): left out of its line when the head has them
_AGENT_SUMMARY = re.compile(
    r"evaluation failed for \d+ object\(s\), kept in their previous state: [^;]*(?:; |$)"
)


def _uncounted(error: str, prefix: str, counted: bool) -> str:
    """An agent's EventSource error as the status shows it ("" when nothing is left)."""
    if not counted:
        return error
    rest = _AGENT_SUMMARY.sub("", error[len(prefix) :]).strip().rstrip(";").strip()
    return f"{prefix} {rest}" if rest else ""


def _strip(text: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _where(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


_RETRY_NOTE = re.compile(r" \(attempt \d+, retry in [0-9.]+s\)$")


def apply_problems(state: State, agent_errors: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Per trigger: its profiles' apply/removal failures as agents report them
    (``profile <name>: ...``), attempt counts replaced by "(retrying)" so that a retry does
    not rewrite the status."""
    out: dict[str, list[str]] = {}
    for cluster, error in agent_errors:
        if not error.startswith("profile "):
            continue
        name, _, what = error[len("profile ") :].partition(": ")
        profile = state.profiles.get(name)
        if profile is None:
            continue
        what = _RETRY_NOTE.sub(" (retrying)", what)
        out.setdefault(profile.trigger, []).append(f"{cluster}: profile {name}: {what}")
    return out


def agent_errors(agents: Mapping[str, m.AgentStatus]) -> list[tuple[str, str]]:
    """``(cluster, error)`` of every agent's reported errors."""
    return [(str(a.cluster), e) for a in agents.values() for e in a.errors]


def merged_statuses(
    views: Mapping[str, DefinitionView],
    sharding: Sharding,
    parts: Mapping[str, Mapping[str, list[str]]],
) -> dict[str, m.DefinitionStatus]:
    """A shard's statuses by key, with the other live shards' parts (their problems, by
    key) merged in (:func:`services.manager.sharding.merge_errors`)."""
    alive = {member.id for member in sharding.members or ()} - {sharding.me.id}
    others = [part for member, part in parts.items() if member in alive]
    return {
        key: replace(
            view, errors=merge_errors(view.errors, (p.get(key, ()) for p in others))
        ).message()
        for key, view in views.items()
    }
