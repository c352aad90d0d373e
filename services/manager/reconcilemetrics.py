"""What the manager's loop counts: the REST snapshot's counters and what ``/metrics``
exposes (prefix ``ripple_manager_``).

Functions of the :class:`~services.manager.reconciler.Reconciler`'s parts (its inputs,
publication and publisher, and its own counts), called on the loop; they do no I/O. The
state's gauges (:func:`state_gauges`, O(pairs)) are taken after a reconcile at most every
second: while a reconcile is planning in its thread, ``/metrics`` serves those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.manager import kustomize, rendering
from services.manager.inputs import Inputs
from services.manager.publication import Publication
from services.manager.publisher import Publisher
from services.manager.state import State

Metrics = dict[str, tuple[str, str, float]]


def state_gauges(state: State) -> dict[str, float]:
    """The state's gauges (read between reconciles)."""
    return {
        "instantiation_errors": state.failing_instances(),
        "profiles": len(state.profiles),
        "desired_entries": len(state.desired),
        "clusters": len(state.clusters),
    }


def counters(
    stats: Mapping[str, int], inputs: Inputs, publisher: Publisher, publication: Publication
) -> dict[str, int]:
    """The counters of the REST snapshot (``stats``: the reconciler's own counts)."""
    return {
        "reconciles": stats["reconciles"],
        "report_changes": inputs.report_changes,
        "desired_puts": publisher.stats["desired_puts"],
        "desired_deletes": publisher.stats["desired_deletes"],
        "puts": publisher.stats["puts"],
        "deletes": publisher.stats["deletes"],
        "publication_failures": len(publisher.queue.failures),
        "withdrawals_held": len(publication.guard.holds),
    }


def metrics(
    *,
    stats: Mapping[str, int],
    reconcile_max: float,
    plan_steps: int,
    ready: bool,
    gauges: Mapping[str, float],
    invalid_messages: Callable[[], int],
    inputs: Inputs,
    publisher: Publisher,
    publication: Publication,
) -> Metrics:
    """What ``/metrics`` exposes: the reconciler's own counts (``stats``, ``reconcile_max``,
    ``plan_steps``), the state's ``gauges`` (:func:`state_gauges`), those of the publisher,
    the withdrawal guard and the refused renders."""
    counts = publication.counts()
    out: Metrics = {
        "report_changes_total": (
            "counter",
            "Report changes received",
            inputs.report_changes,
        ),
        "reconciles_total": ("counter", "Reconcile passes", stats["reconciles"]),
        "reconcile_max_seconds": (
            "gauge",
            "Longest reconcile (wall clock, slices given back to the loop included)",
            reconcile_max,
        ),
        "input_batch_max": (
            "gauge",
            "Most inputs applied before one reconcile",
            stats["batch_max"],
        ),
        "desired_puts_total": (
            "counter",
            "Desired states published",
            publisher.stats["desired_puts"],
        ),
        "desired_deletes_total": (
            "counter",
            "Desired states withdrawn",
            publisher.stats["desired_deletes"],
        ),
        "invalid_messages_total": (
            "counter",
            "Unreadable NATS values skipped",
            invalid_messages(),
        ),
        "definition_errors": (
            "gauge",
            "Definitions that do not load",
            len(inputs.definition_errors),
        ),
        "instantiation_errors": (
            "gauge",
            "Instances (profiles) whose latest instantiation failed, those that never "
            "succeeded included",
            gauges.get("instantiation_errors", 0),
        ),
        "profiles": ("gauge", "Generated profiles", gauges.get("profiles", 0)),
        "desired_entries": (
            "gauge",
            "Desired (cluster, profile) entries",
            gauges.get("desired_entries", 0),
        ),
        "clusters": ("gauge", "Registered clusters", gauges.get("clusters", 0)),
        "pending_removals": (
            "gauge",
            "Add-ons inside their removal grace period",
            counts["pending_removals"],
        ),
        "held_keys": (
            "gauge",
            "Published keys held after a restart until their report is known",
            counts["held"],
        ),
        "informers_failing": (
            "gauge",
            "Kinds of the management cluster whose list, watch or discovery fails (unknown)",
            len(inputs.informer_errors),
        ),
        "publication_failures": (
            "gauge",
            "KV keys whose last put or delete failed",
            len(publisher.queue.failures),
        ),
        "ready": ("gauge", "1 once every input was read", 1.0 if ready else 0.0),
    }
    out.update(publisher.metrics())
    out.update(publication.guard.metrics())
    out.update(rendering.refusal_metrics())
    out.update(kustomize.metrics())
    out["plan_steps_total"] = (
        "counter",
        "Planning steps done off the loop (instances rendered, pairs planned)",
        plan_steps,
    )
    return out
