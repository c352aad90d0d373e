"""``kustomizationRefs`` of a trigger instantiated into manifests (pure over its inputs; the
build itself runs kustomize through :mod:`services.manager.kustomize`).

As Sveltos (event-manager ``instantiateKustomizationRefs``, then addon-controller
``deployKustomizeRef``) does, for each entry whose ``kind`` is ConfigMap or Secret:

- ``namespace``, ``name``, ``path``, ``targetNamespace``, each of ``components`` and each of
  ``values`` are templates over the event data, rendered separately; an empty ``namespace``
  is the source cluster's namespace;
- the referenced object holds a tar archive (gzip-compressed or not) of the kustomize
  directory: a ConfigMap in ``binaryData``, a Secret (type
  ``addons.projectsveltos.io/cluster-profile``) in ``data``, under the key
  ``kustomize.tar.gz``; ``path`` is the directory inside it that holds a
  ``kustomization.yaml``, to which ``components`` are added; a missing object is an error
  unless the entry is ``optional``;
- the substitute values are ``values``, then the data keys of each ``valuesFrom``
  ConfigMap/Secret (in order, later keys override earlier ones); a valuesFrom object the
  trigger instantiates (``projectsveltos.io/instantiate``; every one for an EventBasedAddOn)
  has its values rendered with the event data first; the values of the others are taken as
  they are and override the rendered ones;
- when there is any substitute value, each object of kustomize's output is a template over
  them (``{{ .Region }}``), rendered separately;
- ``targetNamespace`` becomes the namespace of every namespaced object of the output;
- each object points back to the ConfigMap/Secret (reference-kind/name/namespace), with the
  reason ``Kustomize``, the entry's ``tier`` (reference-tier, default 100),
  ``deploymentType`` and ``skipNamespaceCreation``.

Flux sources (GitRepository, OCIRepository, Bucket) are accepted and not deployed (the
trigger's status says so); they are skipped here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from services.manager import charts, kustomize, rendering
from services.manager.errors import InstantiationError
from services.manager.model import ClusterInfo, Reference
from services.manager.profiles import DEFAULT_TIER, Origin
from shared.api.vocabulary import CONFIG_MAP, EVENT_BASED_ADDON, INSTANTIATE_ANNOTATION, SECRET

#: the key of the archive in the ConfigMap's binaryData / the Secret's data (Sveltos')
ARCHIVE_KEY = "kustomize.tar.gz"
#: the kinds built here (the others are Flux sources)
KINDS = (CONFIG_MAP.kind, SECRET.kind)
#: the string fields of an entry that are templates
TEMPLATE_FIELDS = ("namespace", "name", "path", "targetNamespace")
#: well-known cluster-scoped kinds by API group: ``targetNamespace`` leaves them alone, as
#: Sveltos' deployer clears the namespace of a cluster-scoped object it set
CLUSTER_SCOPED: Mapping[str, frozenset[str]] = {
    "": frozenset({"Namespace", "Node", "PersistentVolume", "ComponentStatus"}),
    "rbac.authorization.k8s.io": frozenset({"ClusterRole", "ClusterRoleBinding"}),
    "apiextensions.k8s.io": frozenset({"CustomResourceDefinition"}),
    "storage.k8s.io": frozenset({"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment"}),
    "scheduling.k8s.io": frozenset({"PriorityClass"}),
    "admissionregistration.k8s.io": frozenset(
        {
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        }
    ),
    "apiregistration.k8s.io": frozenset({"APIService"}),
    "networking.k8s.io": frozenset({"IngressClass"}),
    "node.k8s.io": frozenset({"RuntimeClass"}),
    "certificates.k8s.io": frozenset({"CertificateSigningRequest"}),
    "flowcontrol.apiserver.k8s.io": frozenset({"FlowSchema", "PriorityLevelConfiguration"}),
}
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def kustomization_sources(
    spec: Mapping[str, Any],
    owner: str,
    source: ClusterInfo,
    data: Mapping[str, Any],
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]],
) -> list[tuple[dict[str, Any], Reference]]:
    """The manifests the trigger's ``kustomizationRefs`` (in ``spec``, camelCase) build for
    one instance, each with the reference it came from (an
    :class:`~services.manager.profiles.Origin`: reason ``Kustomize``, tier, deploymentType,
    and every entry as instantiated, for the ClusterProfile). ``owner`` is ``Kind/name`` of
    the trigger (for messages), ``data`` the instance's template data, ``refs`` the
    management-cluster ConfigMaps/Secrets by (kind, namespace, name). Raises
    :class:`~services.manager.errors.InstantiationError` on a problem."""
    entries = [e for e in spec.get("kustomizationRefs") or () if isinstance(e, Mapping)]
    if not entries:
        return []
    instantiate_all = owner.startswith(f"{EVENT_BASED_ADDON.kind}/")
    rendered: list[dict[str, Any]] = []
    built: list[tuple[dict[str, Any], Origin]] = []
    for index, entry in enumerate(entries):
        where = f"{owner} kustomizationRefs[{index}]"
        if entry.get("kind") not in KINDS:
            rendered.append(_shown(entry))  # a Flux source: accepted, not deployed
            continue
        ref = instantiate(entry, data, source.key.namespace, where)
        rendered.append(_shown(ref))
        built.extend(_build(ref, data, refs, where, instantiate_all))
    shown = tuple(rendered)
    return [(m, dataclasses.replace(o, entries=shown)) for m, o in built]


def instantiate(
    entry: Mapping[str, Any], data: Mapping[str, Any], namespace: str, where: str
) -> dict[str, Any]:
    """One entry with its templates rendered (``namespace`` defaulted, each ``valuesFrom``
    name/namespace rendered too), as the generated ClusterProfile shows it."""
    ref = dict(entry)
    for field in TEMPLATE_FIELDS:
        ref[field] = charts.render(str(entry.get(field) or ""), data, f"{where}.{field}")
    ref["namespace"] = ref["namespace"] or namespace
    ref["components"] = [
        charts.render(str(c), data, f"{where}.components[{j}]")
        for j, c in enumerate(entry.get("components") or ())
    ]
    values = entry.get("values") or {}
    ref["values"] = {
        str(k): _render(str(v), data, f"{where}.values[{k}]") for k, v in sorted(values.items())
    }
    values_from = []
    for j, vf in enumerate(entry.get("valuesFrom") or ()):
        at = f"{where}.valuesFrom[{j}]"
        ns = charts.render(str(vf.get("namespace") or ""), data, f"{at}.namespace") or namespace
        values_from.append(
            {**vf, "namespace": ns, "name": charts.render(str(vf["name"]), data, f"{at}.name")}
        )
    ref["valuesFrom"] = values_from
    return ref


def _render(text: str, data: Mapping[str, Any], where: str) -> str:
    if "{{" not in text:
        return text
    return rendering.render_text(text, data, flavour="go", name=where)


def _shown(ref: Mapping[str, Any]) -> dict[str, Any]:
    """The entry as a ClusterProfile shows it: the fields set, deploymentType defaulted."""
    out = {k: v for k, v in ref.items() if v is not None and v != "" and v != [] and v != {}}
    out.setdefault("deploymentType", "Remote")
    return out


def _build(
    ref: Mapping[str, Any],
    data: Mapping[str, Any],
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]],
    where: str,
    instantiate_all: bool,
) -> list[tuple[dict[str, Any], Origin]]:
    kind, namespace, name = str(ref["kind"]), str(ref["namespace"]), str(ref["name"])
    obj = refs.get((kind, namespace, name))
    if obj is None:
        if ref.get("optional"):
            return []
        raise InstantiationError(f"{where}: {kind} {namespace}/{name} not found")
    ident = f"{where} ({kind} {namespace}/{name}"
    archive = _archive(obj, f"{ident})")
    path = str(ref.get("path") or "")
    try:
        components = list(ref.get("components") or ())
        text = kustomize.build_archive(archive, path, components, f"{kind} {namespace}/{name}")
    except kustomize.KustomizeFailed as exc:
        subject = rendering.instance_subject(data)
        raise InstantiationError(f"{ident}, path {path or '.'!r}){subject}: {exc}") from None
    values = substitute_values(ref, data, refs, where, instantiate_all)
    out_where = f"{ident}) kustomize output{rendering.instance_subject(data)}"
    if values:
        manifests = []
        for doc_index, doc in enumerate(_SEPARATOR.split(text)):
            if not doc.strip():
                continue
            at = f"{ident}) kustomize output document {doc_index}"
            doc = rendering.render_text(doc, values, flavour="go", name=at)
            manifests.extend(rendering.parse_manifests(doc, out_where))
    else:  # the same objects for every instance: read once (kept as JSON)
        key = kustomize.digest("parsed", text)
        parsed = kustomize.memoized(
            key, lambda: json.dumps(rendering.parse_manifests(text, out_where))
        )
        manifests = json.loads(parsed)
    target = str(ref.get("targetNamespace") or "")
    if target:
        manifests = [_in_namespace(m, target) for m in manifests]
    origin = Origin(
        kind,
        namespace,
        name,
        tier=_tier(ref.get("tier"), where),
        reason="Kustomize",
        deployment_type=str(ref.get("deploymentType") or "Remote"),
        skip_namespace_creation=bool(ref.get("skipNamespaceCreation")),
    )
    return [(m, origin) for m in manifests]


def _tier(value: Any, where: str) -> int:
    if value is None or value == "":
        return DEFAULT_TIER
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InstantiationError(f"{where}.tier: a positive integer is expected, got {value!r}")
    return value


def _archive(obj: Mapping[str, Any], where: str) -> bytes:
    """The tar archive a ConfigMap (binaryData) or Secret (data) holds under
    :data:`ARCHIVE_KEY`."""
    rendering.check_reference_size(obj)
    kind = obj.get("kind")
    if kind == SECRET.kind:
        stype = obj.get("type", "")
        if stype and stype != rendering.SECRET_TYPE:
            raise InstantiationError(
                f"{where}: Secret type {stype!r} is not supported; use type "
                f"{rendering.SECRET_TYPE!r}"
            )
        section, encoded = "data", (obj.get("data") or {}).get(ARCHIVE_KEY)
    else:
        section, encoded = "binaryData", (obj.get("binaryData") or {}).get(ARCHIVE_KEY)
    if not encoded:
        raise InstantiationError(
            f"{where}: no {section} key {ARCHIVE_KEY!r}: it must hold a tar.gz of the kustomize "
            f"directory (tar -czf {ARCHIVE_KEY} -C DIR . && kubectl create "
            f"{str(kind).lower()} NAME --from-file={ARCHIVE_KEY})"
        )
    try:
        return base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InstantiationError(
            f"{where}: {section}[{ARCHIVE_KEY}] is not base64: {exc}"
        ) from None


def substitute_values(
    ref: Mapping[str, Any],
    data: Mapping[str, Any],
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]],
    where: str,
    instantiate_all: bool,
) -> dict[str, str]:
    """``values`` (rendered), then each valuesFrom's keys: instantiated ones (rendered with
    the event data) override ``values``, the others override everything (Sveltos' order)."""
    rendered: dict[str, str] = dict(ref.get("values") or {})
    plain: dict[str, str] = {}
    for j, vf in enumerate(ref.get("valuesFrom") or ()):
        at = f"{where}.valuesFrom[{j}]"
        kind, namespace, name = str(vf.get("kind")), str(vf["namespace"]), str(vf["name"])
        obj = refs.get((kind, namespace, name))
        if obj is None:
            if vf.get("optional"):
                continue
            raise InstantiationError(f"{at}: {kind} {namespace}/{name} not found")
        try:
            entries = rendering.data_entries(obj)
        except InstantiationError as exc:
            raise InstantiationError(f"{at}: {exc}") from None
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if instantiate_all or INSTANTIATE_ANNOTATION in annotations:
            flavour = rendering.template_flavour(obj)
            for key, text in entries:
                rendered[key] = rendering.render_text(
                    text, data, flavour=flavour, name=f"{at} {kind}/{namespace}/{name} data[{key}]"
                )
        else:
            plain.update(entries)
    return {**rendered, **plain}


def _in_namespace(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    group = str(manifest.get("apiVersion") or "").rpartition("/")[0]
    if manifest.get("kind") in CLUSTER_SCOPED.get(group, frozenset()):
        return manifest
    return {**manifest, "metadata": {**(manifest.get("metadata") or {}), "namespace": namespace}}


def referenced(spec: Mapping[str, Any], kind: str, name: str) -> bool:
    """Whether a ``kustomizationRefs`` entry (or one of its ``valuesFrom``) may name the
    ConfigMap/Secret ``kind``/``name`` (a template may name any)."""
    for entry in spec.get("kustomizationRefs") or ():
        if not isinstance(entry, Mapping):
            continue
        for ref in (entry, *(entry.get("valuesFrom") or ())):
            ref_name = str(ref.get("name", ""))
            if ref.get("kind") == kind and (ref_name == name or "{{" in ref_name):
                return True
    return False
