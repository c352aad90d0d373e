"""``ripple explain --offline DIR``: the explain world read from a scenario/story directory.

``DIR`` is laid out as a scenario (``../shared/scenarios/README.md``): ``fleet.yaml`` (the
registered clusters), ``management/`` (EventSources, triggers, referenced ConfigMaps and
Secrets), ``cluster/`` (objects of the managed clusters). Definitions go through the same
conversions as in the manager (:mod:`services.manager.definitions`); one that does not load is
shown as an error and never stops the others.

Which objects are in which cluster (the other members of a whole-set trigger's set, the
candidates of an aggregatedSelection): the objects that ``steps.yaml``'s ``apply`` steps put
in that cluster, in order (a later file replaces the same object; deletes are not applied);
without ``steps.yaml``, every object of ``cluster/`` is in every cluster. ``${CHARTS_URL}``
in definitions names the directory's ``charts/`` (``file://``), as the runner serves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.manager import definitions
from services.manager.explainworld import World, resolve_cluster
from services.manager.model import ClusterInfo, ClusterKey
from services.manager.planning import TriggerView
from services.scenario import kinds
from services.scenario.charts import CHARTS_OCI_URL, CHARTS_URL, substitute
from services.scenario.errors import ScenarioError
from services.scenario.files import read_objects, read_yaml, yaml_files
from services.scenario.model import ApplyStep, load_fleet, parse_steps
from shared.api.vocabulary import (
    CONFIG_MAP,
    EVENT_BASED_ADDON,
    EVENT_SOURCE,
    EVENT_TRIGGER,
    SECRET,
    ObjectKey,
)


def load_world(directory: Path) -> World:
    """The offline world of ``directory`` (:class:`ScenarioError` naming the file when
    ``fleet.yaml`` or a file cannot be read)."""
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: not a directory")
    fleet_file = directory / "fleet.yaml"
    if not fleet_file.is_file():
        raise ScenarioError(f"{directory}: fleet.yaml is missing (the registered clusters)")
    fleet = load_fleet(fleet_file)
    clusters: dict[ClusterKey, ClusterInfo] = {}
    for c in fleet.clusters:
        gvk = kinds.registration_gvk(c.type)
        registration: dict[str, Any] = {
            "apiVersion": gvk.api_version,
            "kind": gvk.kind,
            "metadata": {"name": c.name, "namespace": c.namespace, "labels": dict(c.labels)},
            "spec": {},
            "status": kinds.ready_status(c.type),
        }
        info = definitions.cluster_info(registration)
        clusters[info.key] = info
    triggers: dict[str, TriggerView] = {}
    sources: dict[str, dict[str, Any]] = {}
    refs: dict[tuple[str, str, str], dict[str, Any]] = {}
    errors: dict[str, str] = {}
    # a scenario's chart placeholders, as the runner fills them (the chart is never fetched)
    urls = {CHARTS_URL: (directory / "charts").resolve().as_uri(), CHARTS_OCI_URL: "oci://charts"}
    for path in yaml_files(directory / "management"):
        for obj in (substitute(o, urls) for o in read_objects(path)):
            kind = obj.get("kind")
            meta: dict[str, Any] = obj.get("metadata") or {}
            ident = f"{kind}/{meta.get('name', '')}"
            try:
                if kind == EVENT_SOURCE.kind:
                    sources[meta["name"]] = definitions.event_source_object(obj)
                elif kind in (EVENT_TRIGGER.kind, EVENT_BASED_ADDON.kind):
                    view = definitions.trigger_view(definitions.trigger_object(obj))
                    triggers[view.name] = view
                elif kind in (CONFIG_MAP.kind, SECRET.kind):
                    refs[(str(kind), meta.get("namespace") or "default", meta["name"])] = obj
            except Exception as exc:  # one bad definition never stops the others
                errors[ident] = f"{path.name}: {exc}"
    return World(
        live=False,
        clusters=clusters,
        triggers=triggers,
        event_sources=sources,
        refs=refs,
        objects=_cluster_objects(directory, list(clusters)),
        definition_errors=errors,
    )


def _cluster_objects(
    directory: Path, clusters: list[ClusterKey]
) -> dict[ClusterKey, tuple[dict[str, Any], ...]]:
    by_ref = {f"{c.namespace}/{c.name}": c for c in clusters}
    steps_file = directory / "steps.yaml"
    placed: dict[ClusterKey, dict[ObjectKey, dict[str, Any]]] = {c: {} for c in clusters}
    if steps_file.is_file():
        for step in parse_steps(read_yaml(steps_file), str(steps_file)):
            action = step.action
            if isinstance(action, ApplyStep) and action.cluster in by_ref:
                for obj in read_objects(directory / action.file):
                    placed[by_ref[action.cluster]][ObjectKey.of(obj)] = obj
    else:
        everything: dict[ObjectKey, dict[str, Any]] = {}
        for path in yaml_files(directory / "cluster"):
            everything.update({ObjectKey.of(o): o for o in read_objects(path)})
        placed = {c: dict(everything) for c in clusters}
    return {c: tuple(objs.values()) for c, objs in placed.items()}


def find_object(world: World, cluster: ClusterKey, key: ObjectKey) -> dict[str, Any] | None:
    """The object ``key`` among the cluster's objects (offline)."""
    return next((o for o in world.objects.get(cluster, ()) if ObjectKey.of(o) == key), None)


def cluster_key(world: World, ref: str) -> ClusterKey:
    """``[TYPE:]NAMESPACE/NAME`` -> the registered cluster (:class:`ValueError` naming the
    registered ones when it is not one of them)."""
    return resolve_cluster(list(world.clusters), ref)
