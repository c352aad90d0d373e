"""CustomResourceDefinition rules: validation and the status the server maintains."""

from __future__ import annotations

from typing import Any

from services.fleet.customresources import CRD_KIND, crd_problems, invalid
from services.fleet.errors import ApiError
from services.fleet.fieldpaths import now


def validate_crd(crd: dict[str, Any]) -> None:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = crd["metadata"].get("name", "")
    kind = "CustomResourceDefinition.apiextensions.k8s.io"
    for field, value in (
        ("spec.group", spec.get("group")),
        ("spec.names.plural", names.get("plural")),
        ("spec.names.kind", names.get("kind")),
        ("spec.versions", spec.get("versions")),
    ):
        if not value:
            raise ApiError.invalid(
                kind,
                name,
                field,
                "Required value",
                "FieldValueRequired",
                "apiextensions.k8s.io",
            )
    if name != f"{names['plural']}.{spec['group']}":
        raise ApiError.invalid(
            kind,
            name,
            "metadata.name",
            f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            group="apiextensions.k8s.io",
        )
    if sum(1 for v in spec["versions"] if v.get("storage")) != 1:
        raise ApiError.invalid(
            kind,
            name,
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
            group="apiextensions.k8s.io",
        )
    problems = crd_problems(crd)
    if problems:
        raise invalid(CRD_KIND, name, problems, "apiextensions.k8s.io")


def crd_status(crd: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")), "")
    stored = list((old or {}).get("storedVersions") or [])
    if storage and storage not in stored:
        stored.append(storage)
    when = ((old or {}).get("conditions") or [{}])[0].get("lastTransitionTime") or now()
    return {
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "lastTransitionTime": when,
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                "type": "Established",
                "status": "True",
                "lastTransitionTime": when,
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    }
