"""The CustomResourceDefinitions of the Sveltos kinds, generated from the models.

The catalogue :data:`~shared.api.crdkinds.KINDS` says, per kind, its names, scope, versions,
storage version, printer columns and which versions differ (those need the conversion
webhook, :mod:`shared.api.conversion`). The schemas come from the pydantic models
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
from pathlib import Path

import yaml

from shared.api.crdkinds import IMMUTABLE_MESSAGE as IMMUTABLE_MESSAGE
from shared.api.crdkinds import KINDS as KINDS
from shared.api.crdkinds import Kind as Kind
from shared.api.crdkinds import Webhook as Webhook
from shared.api.crdkinds import kind_of as kind_of
from shared.api.crdschema import JSON, at, problems, structural_schema

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
