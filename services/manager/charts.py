"""Helm charts of a generated profile: a trigger's ``helmCharts`` instantiated with the
event data (pure).

As Sveltos' event-manager does (sveltos-semantics 4.5, 4.6): each string field of an entry
(``repositoryURL``, ``repositoryName``, ``chartName``, ``chartVersion``, ``releaseName``,
``releaseNamespace``, ``values``) is a separate template over the instance's data, and so are
the ``name``/``namespace`` of each ``valuesFrom``. A ``valuesFrom`` ConfigMap/Secret that
the trigger instantiates (annotation ``projectsveltos.io/instantiate``; every one for an
EventBasedAddOn) is copied, rendered, into the generated namespace, and the entry points to
the copy; the others are referenced as they are. An empty namespace means the source
cluster's namespace.

The complete values are computed here, as Sveltos' addon-controller computes them when it
deploys the ClusterProfile: ``values`` first, then each key (in key order) of the
``valuesFrom`` referenced as they are, then those of the instantiated copies, each merged
over the previous ones (:func:`shared.helm.spec.merge_values`). A missing ``valuesFrom`` is
an error unless ``optional``. The instantiated entry is validated as the agent will read it
(:class:`shared.helm.HelmChart`), so a bad entry is the trigger's error, not the agent's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.manager import naming, rendering
from services.manager.errors import InstantiationError
from services.manager.model import DeployedChart
from shared.hashing import policy_hash
from shared.helm import HelmChart, HelmTerminal
from shared.helm.spec import load_values, merge_values

#: the string fields of a helmCharts entry rendered as templates (``values`` apart)
TEMPLATE_FIELDS = (
    "repositoryURL",
    "repositoryName",
    "chartName",
    "chartVersion",
    "releaseName",
    "releaseNamespace",
)

Refs = Mapping[tuple[str, str, str], Mapping[str, Any]]  # (kind, namespace, name) -> object
Instantiates = Callable[[Mapping[str, Any]], bool]


@dataclass
class Charts:
    """The charts of one instance: what the agent installs, what the ClusterProfile shows
    (``spec.helmCharts``) and the ``valuesFrom`` copies generated for them."""

    deployed: list[DeployedChart] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    instantiated: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What instantiating a trigger's charts for one instance needs."""

    owner: str  # "<Kind>/<name>", for messages
    data: Mapping[str, Any]  # the instance's template data
    source_namespace: str  # the source cluster's namespace (empty namespaces)
    refs: Refs
    instantiates: Instantiates
    labels: Mapping[str, str]  # the profile's identifying labels (for the copies)
    trigger_kind: str


def referenced(entries: Sequence[Mapping[str, Any]], kind: str, name: str) -> bool:
    """Whether an entry's ``valuesFrom`` may name ``kind``/``name`` (a template may)."""
    for entry in entries:
        for vf in entry.get("valuesFrom") or ():
            ref_name = str(vf.get("name", ""))
            if vf.get("kind") == kind and (ref_name == name or "{{" in ref_name):
                return True
    return False


def plan_charts(entries: Sequence[Mapping[str, Any]], ctx: Context) -> Charts:
    """Every entry instantiated for one instance, in order; :class:`InstantiationError`
    naming the entry and field at the first failure."""
    out = Charts()
    for index, entry in enumerate(entries):
        where = f"{ctx.owner} helmCharts[{index}]"
        chart = {k: v for k, v in entry.items() if v is not None}
        for name in TEMPLATE_FIELDS:
            if isinstance(chart.get(name), str):
                chart[name] = render(chart[name], ctx.data, f"{where}.{name}")
        values_text = str(chart.get("values") or "")
        if "{{" in values_text:  # a YAML document: no stripping
            values_text = rendering.render_text(
                values_text, ctx.data, flavour="go", name=f"{where}.values"
            )
            chart["values"] = values_text
        values = _load(values_text, f"{where}.values")
        plain: list[tuple[str, str]] = []
        rendered: list[tuple[str, str]] = []
        values_from = []
        for j, vf in enumerate(chart.get("valuesFrom") or ()):
            ref, texts, copy = _value_from(vf, ctx, f"{where}.valuesFrom[{j}]")
            values_from.append(ref)
            (rendered if copy is not None else plain).extend(texts)
            if copy is not None:
                out.instantiated.append(copy)
        if values_from:
            chart["valuesFrom"] = values_from
        for what, text in (*plain, *rendered):
            merge_values(values, _load(text, what))
        try:
            HelmChart.parse(chart, where)
        except HelmTerminal as exc:
            raise InstantiationError(str(exc)) from None
        digest = policy_hash({"chart": chart, "values": values})
        out.deployed.append(DeployedChart(chart=chart, values=values, hash=digest))
        out.entries.append(chart)
    return out


def merge_copies(copies: list[dict[str, Any]], more: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``copies`` then those of ``more`` not generated already (a ConfigMap referenced both
    as a policyRef and as a valuesFrom has one copy, of the same name and content)."""
    seen = {(c["kind"], c["metadata"]["name"]) for c in copies}
    out = list(copies)
    for copy in more:
        if (copy["kind"], copy["metadata"]["name"]) not in seen:
            seen.add((copy["kind"], copy["metadata"]["name"]))
            out.append(copy)
    return out


def render(text: str, data: Mapping[str, Any], where: str) -> str:
    """One string field rendered (trimmed, as Sveltos' fields are); plain text as is."""
    if "{{" not in text:
        return text
    return rendering.render_text(text, data, flavour="go", name=where).strip()


def _load(text: str, where: str) -> dict[str, Any]:
    try:
        return load_values(text, where)
    except HelmTerminal as exc:
        raise InstantiationError(str(exc)) from None


def _value_from(
    vf: Mapping[str, Any], ctx: Context, where: str
) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any] | None]:
    """The entry's reference, its values documents ``(where, text)``, and the generated
    copy when the trigger instantiates the referenced object."""
    kind = str(vf.get("kind", ""))
    namespace = render(str(vf.get("namespace", "")), ctx.data, f"{where}.namespace")
    namespace = namespace or ctx.source_namespace
    name = render(str(vf.get("name", "")), ctx.data, f"{where}.name")
    ref = {**vf, "namespace": namespace, "name": name}
    obj = ctx.refs.get((kind, namespace, name))
    if obj is None:
        if vf.get("optional"):
            return ref, [], None
        raise InstantiationError(f"{where}: {kind} {namespace}/{name} not found")
    entries = rendering.data_entries(obj)
    if not ctx.instantiates(obj):
        return ref, [(f"{kind} {namespace}/{name} data[{k}]", t) for k, t in entries], None
    flavour = rendering.template_flavour(obj)
    data: dict[str, str] = {}
    for key, text in entries:
        data[key] = rendering.render_text(
            text,
            ctx.data,
            flavour=flavour,
            name=f"{ctx.owner} {kind}/{namespace}/{name} data[{key}]",
        )
    keys = naming.labels_of(ctx.trigger_kind)
    labels = {**ctx.labels, keys.ref_namespace: namespace, keys.ref_name: name}
    copy_name = naming.instantiated_name(dict(ctx.labels), kind, namespace, name)
    copy = rendering.generated_copy(obj, copy_name, labels, data)
    texts = [(f"{kind} {namespace}/{name} data[{k}] (instantiated)", t) for k, t in data.items()]
    return {**ref, "namespace": naming.GENERATED_NAMESPACE, "name": copy_name}, texts, copy


__all__ = [
    "TEMPLATE_FIELDS",
    "Charts",
    "Context",
    "merge_copies",
    "plan_charts",
    "referenced",
    "render",
]
