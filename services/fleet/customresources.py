"""What the API server does to a custom resource on every write, from its CRD: the version's
structural schema (prune, default, validate: :mod:`services.fleet.schema`) and its CEL rules
(:mod:`services.fleet.celrules`); and the checks of a CRD's own schemas and conversion.

Failures are one 422 ``Invalid`` naming the object and every field, e.g.
``EventTrigger.lib.projectsveltos.io "x" is invalid: spec.oneForEvent: Invalid value:
"boolean": oneForEvent is immutable``, with ``details.causes``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from services.fleet import celrules, schema
from services.fleet.errors import ApiError
from services.fleet.kinds import CRD_KEY, ResourceType
from services.fleet.schema import Cause
from services.fleet.store import ClusterStore

CRD_KIND = "CustomResourceDefinition.apiextensions.k8s.io"


def crd_of(store: ClusterStore, rt: ResourceType) -> dict[str, Any] | None:
    return store.get(CRD_KEY, "", f"{rt.plural}.{rt.group}")


def version_of(crd: dict[str, Any], version: str) -> dict[str, Any]:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("name") == version:
            return v
    return {}


def schema_of(crd: dict[str, Any], version: str) -> schema.Schema | None:
    found = (version_of(crd, version).get("schema") or {}).get("openAPIV3Schema")
    return found if isinstance(found, dict) else None


def invalid(kind: str, name: str, causes: list[Cause], group: str) -> ApiError:
    """One 422 carrying every cause, worded as the real server words it."""
    lines = [c.line() for c in causes]
    what = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    details: dict[str, Any] = {"name": name, "group": group, "kind": kind.split(".", 1)[0]}
    details["causes"] = [c.as_dict() for c in causes]
    return ApiError(422, f'{kind} "{name}" is invalid: {what}', "Invalid", details)


def admit(
    store: ClusterStore,
    rt: ResourceType,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    version: str = "",
) -> dict[str, Any]:
    """``obj`` (in ``version``, default the request's) pruned, defaulted and validated by its
    CRD; ``old``: the stored object on update (transition rules). Raises the 422."""
    crd = crd_of(store, rt)
    if crd is None:
        return obj
    found = schema_of(crd, version or rt.version)
    if found is None:
        return obj
    unknown: list[str] = []
    out = schema.prune_and_default(obj, found, unknown)
    if unknown:
        _unknown_fields(rt, unknown)
    causes = schema.validate(out, found)
    if not causes:
        causes = celrules.check(out, old, found)
    if causes and old is not None:
        causes = [c for c in causes if not schema.ratcheted(c, out, old)]
    if causes:
        name = str((obj.get("metadata") or {}).get("name", ""))
        kind = f"{rt.kind}.{rt.group}"
        raise invalid(kind, name, causes, rt.group)
    return out


#: the request's ``fieldValidation`` (Strict, Warn, Ignore) and the warnings it collects;
#: set per request (each aiohttp request runs in its own task, so its own context)
FIELD_VALIDATION: ContextVar[str] = ContextVar("fleet_field_validation", default="Warn")
WARNINGS: ContextVar[list[str] | None] = ContextVar("fleet_warnings", default=None)


def _unknown_fields(rt: ResourceType, unknown: list[str]) -> None:
    """Unknown fields were pruned: 400 under ``fieldValidation=Strict``, else warnings."""
    words = [f'unknown field "{p}"' for p in unknown]
    mode = FIELD_VALIDATION.get()
    if mode == "Strict":
        raise ApiError.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict '
            f"decoding error: {', '.join(words)}"
        )
    warnings = WARNINGS.get()
    if mode == "Warn" and warnings is not None:
        warnings.extend(words)


def check_applied(
    store: ClusterStore, rt: ResourceType, applied: dict[str, Any], ns: str, name: str
) -> None:
    """Server-side apply is strict whatever ``fieldValidation`` says: an applied
    configuration with a field its schema does not declare fails (the real server's typed
    patch error, a 500 without a reason)."""
    crd = crd_of(store, rt)
    found = schema_of(crd, rt.version) if crd is not None else None
    if found is None:
        return
    unknown: list[str] = []
    schema.prune_and_default(applied, found, unknown)
    if unknown:
        gvk = f"{rt.group}/{rt.version}, Kind={rt.kind}"
        where = f"{ns}/{name}" if rt.namespaced else f"/{name}"
        fields = "\n".join(f".{p}: field not declared in schema" for p in unknown)
        raise ApiError(500, f"failed to create typed patch object ({where}; {gvk}): {fields}", "")


def crd_problems(crd: dict[str, Any]) -> list[Cause]:
    """What makes a CRD invalid beyond its names: rules that do not compile, a conversion
    the server cannot follow."""
    spec = crd.get("spec") or {}
    out: list[Cause] = []
    for i, v in enumerate(spec.get("versions") or []):
        found = ((v or {}).get("schema") or {}).get("openAPIV3Schema")
        if isinstance(found, dict):
            base = f"spec.versions[{i}].schema.openAPIV3Schema"
            out += celrules.compile_problems(found, base)
            if found.get("type") not in (None, "object"):
                out.append(
                    Cause(
                        f"{base}.type",
                        "FieldValueNotSupported",
                        f'Unsupported value: "{found.get("type")}": supported values: "object"',
                    )
                )
    conversion = spec.get("conversion") or {}
    strategy = conversion.get("strategy", "None")
    if strategy not in ("None", "Webhook"):
        out.append(
            Cause(
                "spec.conversion.strategy",
                "FieldValueNotSupported",
                f'Unsupported value: "{strategy}": supported values: "None", "Webhook"',
            )
        )
    if strategy == "Webhook":
        webhook = conversion.get("webhook") or {}
        config = webhook.get("clientConfig") or {}
        if not config:
            out.append(
                Cause(
                    "spec.conversion.webhook.clientConfig",
                    "FieldValueRequired",
                    "Required value: required when strategy is set to Webhook",
                )
            )
        elif bool(config.get("url")) == bool(config.get("service")):
            out.append(
                Cause(
                    "spec.conversion.webhook.clientConfig",
                    "FieldValueRequired",
                    "Required value: exactly one of url or service is required",
                )
            )
        reviews = webhook.get("conversionReviewVersions") or []
        if "v1" not in reviews and "v1beta1" not in reviews:
            out.append(
                Cause(
                    "spec.conversion.webhook.conversionReviewVersions",
                    "FieldValueRequired",
                    "Required value: must include at least one of v1, v1beta1",
                )
            )
    return out
