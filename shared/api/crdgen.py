"""The CustomResourceDefinitions of the Sveltos kinds, generated from the models.

One catalogue (:data:`KINDS`) says, per kind, its names, scope, the versions served (as
Sveltos served them when both existed: libsveltos/event-manager/addon-controller v0.37-v0.48),
the storage version, the printer columns and which versions differ (those need the
conversion webhook, :mod:`shared.api.conversion`). The schemas come from the pydantic models
(:mod:`shared.api.crdschema`); the v1alpha1 shapes the models accept through their
validators (a flat EventSource spec, selector strings) are added here.

Three renderings of the same CRDs:

* :func:`crds` with a :class:`Webhook` (or the default placeholder Service): every version
  served, ``conversion.strategy: Webhook`` on the kinds whose versions differ;
* :func:`crds` with ``webhook=None``: no conversion. A kind whose versions differ then
  serves its storage version only, except EventSource, whose v1alpha1 stays served and whose
  two versions share one schema (the API server changes only ``apiVersion``: the manager
  recognises a flat spec). This is the form of ``charts/ripple/crds`` and of the embedded
  stack until it runs the webhook;
* :func:`chart_template`: the webhook form as a Helm template (Service, namespace and
  caBundle filled in by the chart).

``python -m shared.api.crdgen write`` regenerates the files (``make crds``); ``check`` fails
when one is stale (``make check-crds``).
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from shared.api.cluster import SveltosCluster
from shared.api.clusterprofile import ClusterProfile
from shared.api.crdschema import JSON, at, problems, structural_schema
from shared.api.eventreport import EventReport
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger

#: where the API server reaches the webhook by default (the chart's Service)
DEFAULT_SERVICE = ("projectsveltos", "ripple-conversion-webhook")
CONVERT_PATH = "/convert"
IMMUTABLE_MESSAGE = "oneForEvent is immutable: delete and re-create the EventTrigger to change it"


@dataclass(frozen=True)
class Webhook:
    """How the API server reaches the conversion webhook: ``url`` (outside the cluster, e.g.
    the simulated fleet) or a Service; ``ca_bundle`` is the base64 PEM of the CA that signed
    the webhook's certificate."""

    url: str = ""
    service_namespace: str = DEFAULT_SERVICE[0]
    service_name: str = DEFAULT_SERVICE[1]
    port: int = 443
    ca_bundle: str = ""

    def client_config(self) -> JSON:
        out: JSON
        if self.url:
            out = {"url": self.url}
        else:
            out = {
                "service": {
                    "namespace": self.service_namespace,
                    "name": self.service_name,
                    "path": CONVERT_PATH,
                    "port": self.port,
                }
            }
        if self.ca_bundle:
            out["caBundle"] = self.ca_bundle
        return out


@dataclass(frozen=True)
class Version:
    name: str
    model: type[BaseModel]
    storage: bool = False


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    group: str
    scope: str
    versions: tuple[Version, ...]
    columns: tuple[JSON, ...] = ()
    short_names: tuple[str, ...] = ()
    #: versions differ: served together only through the conversion webhook
    converted: bool = False
    file: str = field(default="")

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


def _col(name: str, path: str, kind: str = "string", description: str = "", **extra: Any) -> JSON:
    out: JSON = {"name": name, "type": kind, "jsonPath": path}
    if description:
        out["description"] = description
    out.update(extra)
    return out


AGE = _col("Age", ".metadata.creationTimestamp", "date")
LIB = "lib.projectsveltos.io"
CONFIG = "config.projectsveltos.io"

KINDS: tuple[Kind, ...] = (
    Kind(
        "EventSource",
        "eventsources",
        LIB,
        "Cluster",
        (Version("v1alpha1", EventSource), Version("v1beta1", EventSource, storage=True)),
        (
            _col("Kinds", ".spec.resourceSelectors[*].kind", description="kinds watched"),
            _col("Collect", ".spec.collectResources", "boolean"),
            _col("Error", ".status.failureMessage", priority=1),
            AGE,
        ),
        converted=True,
        file="eventsources.yaml",
    ),
    Kind(
        "EventBasedAddOn",
        "eventbasedaddons",
        LIB,
        "Cluster",
        (Version("v1alpha1", EventBasedAddOn, storage=True),),
        (
            _col("EventSource", ".spec.eventSourceName"),
            _col("OneForEvent", ".spec.oneForEvent", "boolean"),
            _col("Clusters", ".spec.sourceClusterSelector", priority=1),
            _col("Failure", ".status.failureMessage"),
            AGE,
        ),
        file="eventbasedaddons.yaml",
    ),
    Kind(
        "EventTrigger",
        "eventtriggers",
        LIB,
        "Cluster",
        (Version("v1alpha1", EventTrigger), Version("v1beta1", EventTrigger, storage=True)),
        (
            _col("EventSource", ".spec.eventSourceName"),
            _col("OneForEvent", ".spec.oneForEvent", "boolean"),
            _col("SyncMode", ".spec.syncMode", priority=1),
            _col("Failure", ".status.failureMessage"),
            AGE,
        ),
        converted=True,
        file="eventtriggers.yaml",
    ),
    Kind(
        "EventReport",
        "eventreports",
        LIB,
        "Namespaced",
        (Version("v1alpha1", EventReport), Version("v1beta1", EventReport, storage=True)),
        (
            _col("Cluster", ".spec.clusterName"),
            _col("EventSource", ".spec.eventSourceName"),
            _col("Matching", ".spec.matchingResources[*].name", description="matching objects"),
            _col("Phase", ".status.phase", priority=1),
            _col("Failure", ".status.failureMessage", priority=1),
            AGE,
        ),
        file="eventreports.yaml",
    ),
    Kind(
        "SveltosCluster",
        "sveltosclusters",
        LIB,
        "Namespaced",
        (Version("v1alpha1", SveltosCluster), Version("v1beta1", SveltosCluster, storage=True)),
        (
            _col(
                "Ready",
                ".status.ready",
                "boolean",
                description="Indicates whether cluster is ready to be managed by sveltos",
            ),
            _col("ConnectionStatus", ".status.connectionStatus"),
            _col(
                "Version",
                ".status.version",
                description="Kubernetes version associated with this Cluster",
            ),
            AGE,
            _col(
                "Shard", ".metadata.annotations['sharding\\.projectsveltos\\.io/key']", priority=1
            ),
        ),
        file="sveltosclusters.yaml",
    ),
    Kind(
        "ClusterProfile",
        "clusterprofiles",
        CONFIG,
        "Cluster",
        (Version("v1alpha1", ClusterProfile), Version("v1beta1", ClusterProfile, storage=True)),
        (
            _col("SyncMode", ".spec.syncMode"),
            _col("Clusters", ".status.matchingClusters[*].name", description="matching clusters"),
            _col("Failure", ".status.failureMessage"),
            AGE,
        ),
        converted=True,
        file="clusterprofiles.yaml",
    ),
)

_FLAT_SELECTOR = ("group", "version", "kind", "namespace", "labelFilters")


def _v1alpha1(kind: str, schema: JSON) -> JSON:
    """The v1alpha1 shape of ``kind`` (the model's schema is the v1beta1 one)."""
    schema = copy.deepcopy(schema)
    if kind == "EventSource":
        spec = at(schema, "spec")
        selector = at(schema, "spec.resourceSelectors.[]")
        selector["properties"]["script"] = {
            "type": "string",
            "description": "Lua (the v1alpha1 spelling of evaluate).",
        }
        selector["properties"]["labelsFilters"] = copy.deepcopy(
            selector["properties"]["labelFilters"]
        )
        selector.pop("required", None)
        for key in _FLAT_SELECTOR:
            spec["properties"][key] = copy.deepcopy(selector["properties"][key])
        spec["properties"]["labelsFilters"] = copy.deepcopy(selector["properties"]["labelFilters"])
        spec["properties"]["script"] = copy.deepcopy(selector["properties"]["script"])
        spec["description"] = (
            "Either the flat v1alpha1 form (group/version/kind/namespace/labelFilters/script "
            "directly under spec) or resourceSelectors."
        )
    elif kind in ("EventTrigger", "EventBasedAddOn"):
        for key in ("sourceClusterSelector", "destinationClusterSelector"):
            node = at(schema, f"spec.{key}")
            at(schema, "spec")["properties"][key] = {
                "type": "string",
                "description": (node.get("description") or "")
                + " A selector string, e.g. env=fv,tier in (a,b).",
            }
    elif kind == "ClusterProfile":
        node = at(schema, "spec.clusterSelector")
        at(schema, "spec")["properties"]["clusterSelector"] = {
            "type": "string",
            "description": (node.get("description") or "") + " A selector string, e.g. env=fv.",
        }
    return schema


def _early_v1beta1(kind: str, schema: JSON) -> JSON:
    """Early v1beta1 EventSources spelt a selector's Lua ``script``, and the spec text spells
    ``labelsFilters`` (the model accepts both): the schema keeps them rather than pruning the
    Lua or the filters away (an EventSource that would then match every object)."""
    if kind == "EventSource":
        selector = at(schema, "spec.resourceSelectors.[]")
        selector["properties"]["script"] = {
            "type": "string",
            "description": "Lua (the early spelling of evaluate; use evaluate).",
        }
        misspelt = copy.deepcopy(selector["properties"]["labelFilters"])
        misspelt["description"] = "The spec text's spelling of labelFilters (use labelFilters)."
        selector["properties"]["labelsFilters"] = misspelt
    return schema


def _one_for_event(schema: JSON) -> None:
    node = at(schema, "spec.oneForEvent")
    node["x-kubernetes-validations"] = [{"rule": "self == oldSelf", "message": IMMUTABLE_MESSAGE}]


def version_schema(kind: Kind, version: str) -> JSON:
    """The openAPIV3Schema of ``kind`` at ``version``."""
    model = next(v.model for v in kind.versions if v.name == version)
    schema = structural_schema(model)
    if version == "v1alpha1":
        schema = _v1alpha1(kind.kind, schema)
    else:
        schema = _early_v1beta1(kind.kind, schema)
    if kind.kind in ("EventTrigger", "EventBasedAddOn"):
        _one_for_event(schema)
    schema["description"] = f"{kind.kind} ({kind.group}/{version}), generated from Ripple's models."
    found = problems(schema)
    if found:
        raise ValueError(f"{kind.name} {version}: schema is not structural: {found}")
    return schema


def crd(kind: Kind, webhook: Webhook | None = Webhook()) -> JSON:
    """The CRD of ``kind``; ``webhook=None``: the form without conversion (module doc)."""
    versions = list(kind.versions)
    shared_schema: JSON | None = None
    if webhook is None and kind.converted:
        if kind.kind == "EventSource":
            shared_schema = version_schema(kind, "v1alpha1")
        else:
            versions = [v for v in versions if v.storage]
    out_versions = []
    for v in versions:
        entry: JSON = {"name": v.name, "served": True, "storage": v.storage}
        schema = shared_schema if shared_schema is not None else version_schema(kind, v.name)
        entry["schema"] = {"openAPIV3Schema": schema}
        entry["subresources"] = {"status": {}}
        if kind.columns:
            entry["additionalPrinterColumns"] = [dict(c) for c in kind.columns]
        out_versions.append(entry)
    spec: JSON = {
        "group": kind.group,
        "names": {
            "kind": kind.kind,
            "listKind": f"{kind.kind}List",
            "plural": kind.plural,
            "singular": kind.kind.lower(),
            "categories": ["sveltos"],
        },
        "scope": kind.scope,
    }
    if kind.converted and webhook is not None:
        spec["conversion"] = {
            "strategy": "Webhook",
            "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": webhook.client_config(),
            },
        }
    spec["versions"] = out_versions
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.name},
        "spec": spec,
    }


def crds(webhook: Webhook | None = Webhook()) -> list[JSON]:
    """Every CRD, in install order."""
    return [crd(k, webhook) for k in KINDS]


def kind_of(name_or_kind: str) -> Kind:
    for k in KINDS:
        if name_or_kind in (k.kind, k.name, k.plural):
            return k
    raise KeyError(name_or_kind)


HEADER = (
    "# Generated by `make crds` (python -m shared.api.crdgen write) from Ripple's models: do "
    "not edit.\n# {what}\n"
)


def dump(doc: JSON, what: str) -> str:
    body = yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)
    return HEADER.format(what=what) + body


def chart_template() -> str:
    """The CRDs with conversion through the chart's webhook, as a named Helm template
    (``ripple.crds``, argument ``(dict "ctx" $ "ca" CA-BUNDLE "certManager" CERTIFICATE)``)."""
    marker_ca = "RIPPLE-CA-BUNDLE"
    marker_ns = "RIPPLE-NAMESPACE"
    marker_name = "RIPPLE-SERVICE"
    hook = Webhook(service_namespace=marker_ns, service_name=marker_name, ca_bundle=marker_ca)
    parts = []
    for k in KINDS:
        text = yaml.safe_dump(crd(k, hook), sort_keys=False, width=100, allow_unicode=True)
        text = text.replace("{{", '{{ "{{" }}')
        text = text.replace(marker_ns, "{{ .ctx.Release.Namespace }}")
        text = text.replace(
            marker_name,
            '{{ include "ripple.componentName" (dict "root" .ctx "component" '
            '"conversion-webhook") }}',
        )
        text = text.replace(
            "caBundle: " + marker_ca,
            "{{- if .ca }}\n        caBundle: {{ .ca }}\n        {{- end }}",
        )
        text = text.replace(
            "  name: " + k.name + "\n",
            "  name: " + k.name + "\n"
            '  labels:\n    {{- include "ripple.labels" .ctx | nindent 4 }}\n'
            "  annotations:\n    helm.sh/resource-policy: keep\n"
            "    {{- if .certManager }}\n"
            "    cert-manager.io/inject-ca-from: {{ .certManager }}\n"
            "    {{- end }}\n",
            1,
        )
        parts.append("---\n" + text)
    return (
        "{{- /* Generated by `make crds` (python -m shared.api.crdgen write): do not edit. The\n"
        "CRDs with conversion through the chart's webhook (templates/conversion-webhook.yaml). */}}\n"
        '{{- define "ripple.crds" }}\n' + "".join(parts) + "{{- end }}\n"
    )


def outputs(repo: Path) -> dict[Path, str]:
    """Every generated file (path -> text)."""
    out: dict[Path, str] = {}
    pkg = repo / "shared" / "api" / "crds"
    chart = repo / "charts" / "ripple"
    for k in KINDS:
        out[pkg / k.file] = dump(
            crd(k), f"{k.kind}: every version, conversion through the webhook's Service."
        )
        out[chart / "crds" / k.file] = dump(
            crd(k, None),
            f"{k.kind}: without conversion (templates/_crds.tpl has the webhook form).",
        )
    out[chart / "templates" / "_crds.tpl"] = chart_template()
    return out


def stale(repo: Path) -> list[Path]:
    """Generated files that differ from what the models give now."""
    return [p for p, text in outputs(repo).items() if not p.exists() or p.read_text() != text]


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parents[2]
    if argv[:1] == ["write"]:
        for path, text in outputs(repo).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(repo)}")
        return 0
    if argv[:1] == ["check"]:
        found = stale(repo)
        for path in found:
            print(f"stale: {path.relative_to(repo)} (run `make crds`)")
        print("CRDs up to date" if not found else f"{len(found)} stale CRD file(s)")
        return 1 if found else 0
    print("usage: python -m shared.api.crdgen write|check", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
