"""The manager's inputs, applied to its state (pure: no I/O).

Informer events of the management cluster (definitions, referenced ConfigMaps/Secrets,
registered clusters) and KV changes (matching sets as deltas, apply outcomes, agent
statuses) arrive here as
values; :class:`Inputs` applies them to the :class:`~services.manager.state.State` and keeps
what the REST API and the statuses show. Nothing is known before every informer listed once
and the reports were read once (:meth:`Inputs.known`); an informer that fails keeps what it
knew, and only a kind the cluster positively does not serve counts as known and empty.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.manager import definitions, resourcerefs
from services.manager.errors import DefinitionProblem
from services.manager.matchsets import Entry, MatchSet
from services.manager.model import ClusterKey
from services.manager.state import State
from shared.api import vocabulary as v
from shared.api.errors import ImmutableFieldError
from shared.api.eventtrigger import AnyTrigger, EventBasedAddOn, EventTrigger, check_update
from shared.api.loading import parse_object
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.errors import InvalidSubject

if TYPE_CHECKING:
    from shared.bus.kv import KVChange
    from shared.kube import InformerEvent

log = logging.getLogger(__name__)

TRIGGER_KINDS = (v.EVENT_TRIGGER, v.EVENT_BASED_ADDON)
CLUSTER_KINDS = (v.SVELTOS_CLUSTER, v.CAPI_CLUSTER)
REF_KINDS = (v.CONFIG_MAP, v.SECRET)
WATCHED: tuple[v.GVK, ...] = (v.EVENT_SOURCE, *TRIGGER_KINDS, *REF_KINDS, *CLUSTER_KINDS)
"""The kinds the manager watches in the management cluster."""


def _cluster_of(ref: subjects.ClusterRef) -> ClusterKey:
    return ClusterKey(ref.namespace, ref.name, ref.type)


def _prefix(cluster: ClusterKey) -> str:
    ref = subjects.ClusterRef(namespace=cluster.namespace, name=cluster.name, type=cluster.type)
    return f"{ref.token}."


def _skip(change: KVChange[Any], exc: InvalidSubject) -> None:
    log.warning("skipping %s of an invalid key: %s", change.op, exc, extra={"obj": change.key})


class Inputs:
    """The state and what the manager knows besides it (owned by the event loop)."""

    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()
        self.definition_errors: dict[str, str] = {}  # "Kind/name" -> message
        #: "Kind/name" -> what is accepted but warned about or not supported (status lines)
        self.definition_problems: dict[str, list[str]] = {}
        #: "Kind/name" -> the trigger version in force (its immutable fields are checked)
        self.accepted: dict[str, AnyTrigger] = {}
        self.reports: dict[tuple[ClusterKey, str], MatchSet] = {}
        self.outcomes: dict[tuple[ClusterKey, str], m.ApplyOutcome] = {}
        # when each outcome was written (its envelope's time): explain shows it
        self.outcome_times: dict[tuple[ClusterKey, str], datetime] = {}
        self.agents: dict[str, m.AgentStatus] = {}
        self.synced: set[tuple[str, str]] = set()
        self.informer_errors: dict[tuple[str, str], str] = {}  # kind -> why it is unknown
        self.reports_synced = False
        self.status_due = True  # the statuses need recomputing
        self.report_changes = 0
        #: ripple-matches keys whose latest value could not be read, in the order of the
        #: changes (their objects are unknown: the pairs reading their sets are held)
        self.unreadable_match_keys: set[str] = set()

    def known(self) -> bool:
        """Every input was read once: from now on an absence is positive knowledge."""
        return self.reports_synced and all(g in self.synced for g in WATCHED)

    # -- the management cluster --------------------------------------------------------------
    @staticmethod
    def generated(event: InformerEvent) -> bool:
        """An event of an object Ripple generated (a ConfigMap/Secret copy the reporter wrote
        from the manager's output): never an input, so never queued."""
        if v.GVK(*event.gvk) not in REF_KINDS or event.type in ("SYNCED", "FAILED"):
            return False
        meta = event.obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        return bool(labels.get(v.MANAGED_BY_LABEL) == v.MANAGED_BY_VALUE)

    def on_kube(self, event: InformerEvent) -> None:
        gvk = v.GVK(*event.gvk)
        if event.type == "SYNCED":
            self.synced.add(gvk)
            self.informer_errors.pop(gvk, None)
            return
        if event.type == "FAILED":
            if event.not_served:
                self.synced.add(gvk)  # e.g. no CAPI in this management cluster
                self.informer_errors.pop(gvk, None)
            else:  # unknown: keep what was known, say why
                self.informer_errors[gvk] = event.message
            return
        obj = event.obj
        meta = obj.get("metadata") or {}
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace", "") or "")
        deleted = event.type == "DELETED"
        if gvk in TRIGGER_KINDS or gvk == v.EVENT_SOURCE:
            self.status_due = True  # a definition's status may change with it
            self._definition(gvk, name, obj, deleted)
        elif gvk in REF_KINDS:
            labels = meta.get("labels") or {}
            if labels.get(v.MANAGED_BY_LABEL) == v.MANAGED_BY_VALUE:
                return  # a copy the reporter wrote from our own output: no input of ours
            self.state.set_ref(gvk.kind, namespace, name, None if deleted else obj)
        elif gvk in CLUSTER_KINDS:
            info = definitions.cluster_info(obj)
            if deleted:
                self.state.delete_cluster(info.key)
            else:
                self.state.set_cluster(info)
        else:  # a kind triggers' templateResourceRefs read (services.manager.resourcerefs)
            key = resourcerefs.kind_key(gvk.api_version, gvk.kind)
            self.state.set_ref(key, namespace, name, None if deleted else obj)

    def _definition(self, gvk: v.GVK, name: str, obj: dict[str, Any], deleted: bool) -> None:
        ident = f"{gvk.kind}/{name}"
        trigger = gvk in TRIGGER_KINDS
        if deleted:
            if trigger:
                self.state.delete_trigger(name)
                self.accepted.pop(ident, None)
            else:
                self.state.set_event_source(name, None)  # deleted: positive knowledge
            self.definition_errors.pop(ident, None)
            self.definition_problems.pop(ident, None)
            return
        self._problems(ident, obj)
        try:
            if trigger:
                self._trigger(ident, obj)
            else:
                self.state.set_event_source(name, definitions.event_source_object(obj))
        except Exception as exc:
            # bad input loses nothing: clusters keep the last valid version (if any)
            self.definition_errors[ident] = str(exc)
            if not trigger:
                self.state.set_event_source_error(name, str(exc))
            log.error("invalid definition: %s", exc, extra={"obj": ident})
        else:
            self.definition_errors.pop(ident, None)

    def _trigger(self, ident: str, obj: dict[str, Any]) -> None:
        """Take a trigger's new version, unless it changes an immutable field of the version
        in force (``spec.oneForEvent``, as Sveltos' CRD rule; enforced here also where the
        CRD is not installed): then the version in force stays, and its status says why."""
        obj = definitions.trigger_object(obj)
        view = definitions.trigger_view(obj)
        model = parse_object(obj, source=ident)
        if not isinstance(model, EventTrigger | EventBasedAddOn):  # trigger_view checked it
            raise DefinitionProblem(f"{ident} is not an EventTrigger or EventBasedAddOn")
        old = self.accepted.get(ident)
        if old is not None:
            try:
                check_update(old, model)
            except ImmutableFieldError as exc:
                raise DefinitionProblem(immutable_message(exc)) from exc
        self.accepted[ident] = model
        self.state.set_trigger(view)

    def _problems(self, ident: str, obj: dict[str, Any]) -> None:
        """What a definition asks that Ripple warns about or does not support (status
        lines; :func:`services.manager.definitions.definition_problems` never raises)."""
        lines = definitions.definition_problems(obj)
        if lines:
            self.definition_problems[ident] = lines
        else:
            self.definition_problems.pop(ident, None)

    # -- NATS --------------------------------------------------------------------------------
    def on_match(self, change: KVChange[m.MatchesEvent]) -> None:
        """Apply one ``ripple-matches`` change (O(1)): an entry put or deleted, a head put
        (completeness, CloudEvents), or a head deleted (the EventSource is no longer
        assigned to that cluster: its set is gone)."""
        if change.op == "synced":
            self.reports_synced = True
            return
        self.report_changes += 1
        try:
            item = subjects.parse_match_key(change.key)
        except InvalidSubject as exc:  # skipped by the bucket's store already; never fatal
            _skip(change, exc)
            return
        if change.op == "unknown":  # unreadable: unknown until a readable value replaces it
            self.unreadable_match_keys.add(change.key)
            return
        self.unreadable_match_keys.discard(change.key)
        key = (_cluster_of(item.cluster), item.event_source)
        sets = self.reports
        if item.obj is None and change.op == "delete":
            if sets.pop(key, None) is not None:
                self.state.delete_report(*key)
            return
        matches = sets.get(key)
        if matches is None:
            if change.op == "delete":
                return  # an entry of a set that is gone: nothing to forget
            matches = sets[key] = MatchSet(*key)
        if change.op == "delete":
            changed = matches.delete(item.obj) if item.obj is not None else False
        elif change.message is None:
            return
        else:
            data = change.message.data
            if isinstance(data, m.MatchHead):
                was_known = matches.known
                errors = matches.errors_version
                changed = matches.set_head(data)
                if matches.errors_version != errors:
                    self.status_due = True  # its EventSource's status shows them
                if matches.known and not was_known:
                    self.state.set_report(matches)  # known from now on
                    return
            else:
                changed = matches.put(data.ref.key, Entry.of(data))
        if changed and matches.known:
            self.state.report_changed(*key)

    def forget_cluster(self, cluster: ClusterKey) -> None:
        """A shard no longer owns ``cluster``: its matching sets are dropped (unknown, not
        empty: fed again from the bucket if the shard owns it again)."""
        for key in [k for k in self.reports if k[0] == cluster]:
            del self.reports[key]
            self.state.delete_report(*key)
        gone = [k for k in self.unreadable_match_keys if k.startswith(_prefix(cluster))]
        self.unreadable_match_keys.difference_update(gone)

    @staticmethod
    def unreadable_sets(keys: set[str]) -> set[tuple[ClusterKey, str]]:
        """The matching sets with an entry or head whose latest value could not be read:
        that object is unknown (never "no match"), so what their pairs produced is held."""
        out: set[tuple[ClusterKey, str]] = set()
        for key in keys:
            try:
                item = subjects.parse_match_key(key)
            except InvalidSubject:
                continue
            out.add((_cluster_of(item.cluster), item.event_source))
        return out

    def on_outcome(self, change: KVChange[m.ApplyOutcomeEvent]) -> None:
        """Apply one ``ripple-outcomes`` change (an unreadable value keeps what was read)."""
        if change.op == "put" and change.message is not None:
            outcome = change.message.data
            key = (_cluster_of(outcome.cluster), outcome.profile_name)
            self.outcomes[key] = outcome
            self.outcome_times[key] = change.message.time
        elif change.op == "delete":
            try:
                item = subjects.parse_outcome_key(change.key)
            except InvalidSubject as exc:  # skipped by the bucket's store already
                _skip(change, exc)
                return
            self.outcomes.pop((_cluster_of(item.cluster), item.name), None)
            self.outcome_times.pop((_cluster_of(item.cluster), item.name), None)

    def on_agent(self, change: KVChange[m.AgentStatusEvent]) -> bool:
        """Apply an agent's status; True when the statuses must be recomputed (agents report
        EventSource errors: only a change of its errors matters, not a heartbeat)."""
        if change.op == "delete":
            try:
                subjects.parse_agent_key(change.key)
            except InvalidSubject as exc:  # skipped by the bucket's store already
                _skip(change, exc)
                return False
        before = self.agents.get(change.key)
        if change.op == "put" and change.message is not None:
            self.agents[change.key] = change.message.data
        elif change.op == "delete":
            self.agents.pop(change.key, None)
        after = self.agents.get(change.key)
        if (before.errors if before else []) == (after.errors if after else []):
            return False
        self.status_due = True
        return True


def immutable_message(exc: ImmutableFieldError) -> str:
    """A refused change of an immutable field, in the trigger's status."""
    old, new = (json.dumps(value, default=repr) for value in (exc.old, exc.new))
    return (
        f"{exc.kind}/{exc.name}: {exc.field} is immutable (in force: {old}, this version: {new}); "
        f"this version is refused and the previous one stays in force: delete the "
        f"{exc.kind} and create it again to change {exc.field}"
    )
