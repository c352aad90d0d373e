"""``configMapGenerator`` / ``secretGenerator``: ConfigMaps and Secrets generated in the
management cluster from a source rendered with the event data (pure; sveltos-semantics 4.7,
EM ``instantiateResourceFromGenerator``).

Each entry ``{namespace, name, nameFormat, optional}``: ``namespace`` and ``name`` are
templates naming the source (an empty namespace is the source cluster's); every ``data`` key
of the source is rendered, always (no annotation needed); the output is named by the
rendered ``nameFormat``, in the generated namespace (``projectsveltos``), labelled as
event-manager labels it (the trigger and cluster identity, ``eventreportname``, the
CloudEvent's ``cesource``/``cesubject``, ``fromgenerator: ok``, ``refnamespace``/``refname``
and the trigger's tenant labels), with the source's annotations; a generated Secret has type
``addons.projectsveltos.io/cluster-profile``. Outputs are made per instance (``oneForEvent:
true``) or once for the whole set. They are not attached to the profile: templates reach them
through ``templateResourceRefs`` or ``policyRefs`` naming them (resolved against this
instance's outputs first). A missing source is an error unless ``optional`` (Sveltos
documents ``optional``; its code errors anyway).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from services.manager import naming, rendering
from services.manager.errors import InstantiationError
from services.manager.model import ClusterKey
from shared.api.vocabulary import CONFIG_MAP, SECRET, TENANT_LABELS

Refs = Mapping[tuple[str, str, str], Mapping[str, Any]]

#: the generator fields of a trigger's spec and the kind each generates
FIELDS = (("configMapGenerator", CONFIG_MAP.kind), ("secretGenerator", SECRET.kind))


def labels(
    trigger_kind: str,
    trigger: str,
    trigger_labels: Mapping[str, str],
    source: ClusterKey,
    event_source: str,
    cloud_event: Mapping[str, str] | None,
) -> dict[str, str]:
    """The labels of one instance's generator outputs (sveltos-semantics 4.4)."""
    keys = naming.labels_of(trigger_kind)
    out = {
        keys.trigger_name: trigger,
        keys.cluster_namespace: source.namespace,
        keys.cluster_name: source.name,
        keys.cluster_type: source.type_title,
        keys.event_report_name: event_source,
    }
    if cloud_event is not None:
        out[keys.ce_source] = cloud_event.get("source", "").replace("/", "-")
        out[keys.ce_subject] = cloud_event.get("subject", "").replace("/", "-")
    out[keys.from_generator] = "ok"
    out.update({k: v for k, v in trigger_labels.items() if k in TENANT_LABELS})
    return {k: naming.label_value(v) for k, v in out.items()}


def generate(
    spec: Mapping[str, Any],
    owner: str,
    trigger_kind: str,
    data: Mapping[str, Any],
    source_namespace: str,
    refs: Refs,
    base_labels: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Every generator output of one instance, ConfigMaps then Secrets in entry order;
    :class:`InstantiationError` naming the entry at the first failure."""
    keys = naming.labels_of(trigger_kind)
    out: list[dict[str, Any]] = []
    for field, kind in FIELDS:
        for index, entry in enumerate(spec.get(field) or ()):
            where = f"{owner} {field}[{index}]"
            ns = _render(str(entry.get("namespace") or ""), data, f"{where}.namespace")
            ns = ns or source_namespace
            name = _render(str(entry.get("name") or ""), data, f"{where}.name")
            obj = refs.get((kind, ns, name))
            if obj is None:
                if entry.get("optional"):
                    continue
                raise InstantiationError(f"{where}: {kind} {ns}/{name} not found")
            name_format = str(entry.get("nameFormat") or "")
            if not name_format:
                raise InstantiationError(f"{where}.nameFormat: required (the output's name)")
            output = _render(name_format, data, f"{where}.nameFormat")
            if not output:
                raise InstantiationError(f"{where}.nameFormat renders an empty name")
            flavour = rendering.template_flavour(obj)
            content = {
                key: rendering.render_text(
                    text, data, flavour=flavour, name=f"{where} {kind}/{ns}/{name} data[{key}]"
                )
                for key, text in rendering.data_entries(obj)
            }
            copy_labels = {**base_labels, keys.ref_namespace: ns, keys.ref_name: name}
            out.append(rendering.generated_copy(obj, output, copy_labels, content))
    return out


def _render(text: str, data: Mapping[str, Any], where: str) -> str:
    if "{{" not in text:
        return text
    return rendering.render_text(text, data, flavour="go", name=where).strip()


def index(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Generated objects by (kind, namespace, name), as the world's objects are keyed."""
    return {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}


class Overlay(Mapping[tuple[str, str, str], Mapping[str, Any]]):
    """The world's objects with one instance's generator outputs over them (read-only)."""

    def __init__(self, generated: list[dict[str, Any]], base: Refs) -> None:
        self._top, self._base = index(generated), base

    def __getitem__(self, key: tuple[str, str, str]) -> Mapping[str, Any]:
        found = self._top.get(key)
        return found if found is not None else self._base[key]

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        yield from self._top
        yield from (k for k in self._base if k not in self._top)

    def __len__(self) -> int:
        return len(self._top) + sum(1 for k in self._base if k not in self._top)
