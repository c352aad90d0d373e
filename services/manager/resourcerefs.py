"""``templateResourceRefs``: management-cluster objects a trigger's templates may read, and
the second templating pass Sveltos' addon-controller makes (pure over their inputs).

What Sveltos does, and so the manager (sveltos-semantics 4.6; EM
``instantiateTemplateResourceRefs``, AC ``collectTemplateResourceRefs``,
``instantiateTemplateValues``):

- each entry's ``resource.name`` and ``resource.namespace`` are templates over the
  instance's event data; an empty namespace is the source cluster's namespace; the rendered
  entries are copied into the generated ClusterProfile's ``spec.templateResourceRefs``;
- each referenced object (any kind: ``apiVersion``, ``kind``) is read from the management
  cluster (the manager watches the kinds triggers reference); missing and not ``optional`` is
  an instantiation error naming the entry, the object and the event;
- content annotated ``projectsveltos.io/template`` (a policyRef's ConfigMap/Secret, or an
  instantiated copy of one, whose annotations are the source's) is rendered once more, as
  addon-controller renders it: data ``.Cluster`` (the destination cluster) and
  ``.MgmtResources`` (identifier -> object), and the functions ``getResource``, ``copy``,
  ``getField``, ``setField``, ``removeField`` taking an identifier (``getResource "cm"``).

The manager keeps ConfigMaps and Secrets under their kind in the world's objects and every
other kind under :func:`kind_key` (``apps/v1/Deployment``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.manager import rendering
from services.manager.errors import InstantiationError
from shared.api.vocabulary import CONFIG_MAP, GVK, LEGACY_TEMPLATE_ANNOTATION, SECRET

Refs = Mapping[tuple[str, str, str], Mapping[str, Any]]

#: the kinds the manager always watches, kept in the world under their kind alone
CORE_KINDS = {CONFIG_MAP: CONFIG_MAP.kind, SECRET: SECRET.kind}


def kind_key(api_version: str, kind: str) -> str:
    """How objects of ``apiVersion``/``kind`` are keyed in the world's objects."""
    return CORE_KINDS.get(GVK(api_version or "v1", kind), f"{api_version}/{kind}")


def entries(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The trigger's ``templateResourceRefs`` (camelCase, as the validated spec has them)."""
    return [e for e in spec.get("templateResourceRefs") or () if isinstance(e, Mapping)]


def watched_kinds(spec: Mapping[str, Any]) -> set[GVK]:
    """The kinds a trigger's templateResourceRefs read that are not watched anyway."""
    out: set[GVK] = set()
    for entry in entries(spec):
        res = entry.get("resource") or {}
        if not isinstance(res, Mapping):
            continue
        gvk = GVK(str(res.get("apiVersion") or "v1"), str(res.get("kind") or ""))
        if gvk.kind and gvk not in CORE_KINDS:
            out.add(gvk)
    return out


def reads(spec: Mapping[str, Any], kind: str, name: str) -> bool:
    """Whether a templateResourceRef or a generator may name the object ``kind``/``name``."""
    for entry in entries(spec):
        res = entry.get("resource") or {}
        if not isinstance(res, Mapping):
            continue
        ref_name = str(res.get("name") or "")
        if kind_key(str(res.get("apiVersion") or ""), str(res.get("kind") or "")) == kind and (
            ref_name == name or "{{" in ref_name
        ):
            return True
    for field, gen_kind in (
        ("configMapGenerator", CONFIG_MAP.kind),
        ("secretGenerator", SECRET.kind),
    ):
        for gen in spec.get(field) or ():
            if not isinstance(gen, Mapping):
                continue
            gen_name = str((gen or {}).get("name") or "")
            if gen_kind == kind and (gen_name == name or "{{" in gen_name):
                return True
    return False


def resolve(
    spec: Mapping[str, Any],
    owner: str,
    data: Mapping[str, Any],
    source_namespace: str,
    refs: Refs,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The objects of the trigger's templateResourceRefs for one instance, by identifier,
    and the entries as the ClusterProfile shows them (name and namespace rendered)."""
    found: dict[str, dict[str, Any]] = {}
    shown: list[dict[str, Any]] = []
    for index, entry in enumerate(entries(spec)):
        where = f"{owner} templateResourceRefs[{index}]"
        res = dict(entry.get("resource") or {})
        api_version, kind = str(res.get("apiVersion") or ""), str(res.get("kind") or "")
        name = _render(str(res.get("name") or ""), data, f"{where}.resource.name")
        namespace = _render(str(res.get("namespace") or ""), data, f"{where}.resource.namespace")
        shown.append({**entry, "resource": {**res, "name": name, "namespace": namespace}})
        namespace = namespace or source_namespace
        key = kind_key(api_version, kind)
        obj = refs.get((key, namespace, name)) or refs.get((key, "", name))  # cluster-scoped
        identifier = str(entry.get("identifier") or "")
        if obj is None:
            if entry.get("optional"):
                continue
            raise InstantiationError(
                f"{where} (identifier {identifier!r}): {kind} {namespace}/{name} "
                f"({api_version or 'v1'}) not found in the management cluster"
            )
        found[identifier] = dict(obj)
    return found, shown


def _render(text: str, data: Mapping[str, Any], where: str) -> str:
    if "{{" not in text:
        return text
    return rendering.render_text(text, data, flavour="go", name=where).strip()


def templated(ref_obj: Mapping[str, Any]) -> bool:
    """Whether addon-controller renders this ConfigMap/Secret's content (its annotation)."""
    annotations = (ref_obj.get("metadata") or {}).get("annotations") or {}
    return LEGACY_TEMPLATE_ANNOTATION in annotations


def render_addon(
    text: str, clusters: Sequence[Mapping[str, Any]], resources: Mapping[str, Any], where: str
) -> str:
    """``text`` rendered as addon-controller renders a templated reference, once per
    destination cluster (``.Cluster``); the profile deploys one content to all of its
    destinations, so a text that renders differently for two of them is an error."""
    out: str | None = None
    for cluster in clusters or [{}]:
        data = {"Cluster": cluster, "MgmtResources": dict(resources)}
        got = rendering.render_text(text, data, flavour="go", name=where, funcs="sveltos-addon")
        if out is not None and got != out:
            meta = cluster.get("metadata") or {}
            raise InstantiationError(
                f"{where}: renders differently for destination {meta.get('namespace')}/"
                f"{meta.get('name')} than for the first destination; Ripple deploys one "
                "content per profile (use event data, or one profile per destination)"
            )
        out = got
    return out or ""
