"""A profile's ``patches`` applied to the objects of its policyRefs, as Sveltos applies them.

Sveltos' addon-controller (libsveltos ``patcher.CustomPatchPostRenderer.RunUnstructured``)
takes the objects of each referenced ConfigMap/Secret after templating and, for each object:

1. selects the patches whose ``target`` matches it: ``group``, ``version``, ``kind``,
   ``namespace`` and ``name`` are unanchored regular expressions (an empty one matches
   anything), ``labelSelector``/``annotationSelector`` label-selector strings over its labels
   and annotations; a patch without target is selected for every object;
2. drops the ``remove`` operations of JSON 6902 patches whose path is not in the object (a
   patch left with no operation is dropped);
3. runs kustomize on that one object with those patches (``patches:`` of a kustomization, the
   targets included, so kustomize's own matching applies too).

Ripple does the same with kustomize itself: every object with patches to apply becomes a
kustomization of its own (the object, its patches), all built in one ``kubectl kustomize``
run (memoized). Kustomize's errors are Sveltos' errors (a strategic-merge patch without a
target naming another object, a JSON 6902 patch without target, a path that does not
exist). Sveltos applies ``patches`` to policyRefs' objects and (as a Helm post-renderer) to
Helm charts, not to kustomizationRefs' output; ``patchesFrom`` is dropped by Sveltos'
event-manager, so it is never applied.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import re2  # type: ignore[import-untyped]
import yaml

from services.manager import kustomize, rendering
from services.manager.errors import InstantiationError
from shared.api.errors import InvalidSelector
from shared.api.selectors import parse_selector

#: the fields of a patch's ``target`` (kustomize's Selector)
TARGET_FIELDS = ("group", "version", "kind", "name", "namespace")
SELECTOR_FIELDS = ("labelSelector", "annotationSelector")
#: an annotation that tells the patched objects apart in kustomize's output (removed after)
MARK = "ripple.projectsveltos.io/patch-index"
# libyaml's safe loader when PyYAML was built with it
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def checked(patches: Sequence[Any], owner: str) -> list[dict[str, Any]]:
    """The trigger's ``patches`` with their shape checked (``patch`` a non-empty string,
    ``target`` a mapping of the known fields, its regular expressions and selectors valid);
    each problem names ``spec.patches[i]``."""
    out: list[dict[str, Any]] = []
    for index, patch in enumerate(patches):
        where = f"{owner} spec.patches[{index}]"
        if not isinstance(patch, Mapping):
            raise InstantiationError(f"{where}: a patch is a mapping with 'patch' and 'target'")
        text = patch.get("patch")
        if not isinstance(text, str) or not text.strip():
            raise InstantiationError(f"{where}.patch: the patch text is required")
        target = patch.get("target")
        if target is not None:
            if not isinstance(target, Mapping):
                raise InstantiationError(f"{where}.target: a mapping is expected")
            unknown = set(target) - {*TARGET_FIELDS, *SELECTOR_FIELDS}
            if unknown:
                raise InstantiationError(
                    f"{where}.target: unknown field(s) {', '.join(sorted(unknown))}"
                )
            for field in TARGET_FIELDS:
                _regex(str(target.get(field) or ""), f"{where}.target.{field}")
            for field in SELECTOR_FIELDS:
                _selector(str(target.get(field) or ""), f"{where}.target.{field}")
        _check_strategic_merge(text, where)
        out.append({"patch": text, **({"target": dict(target)} if target else {})})
    return out


def _regex(pattern: str, where: str) -> Any:
    try:
        return _compiled(pattern)
    except re2.error as exc:
        raise InstantiationError(
            f"{where}: invalid regular expression {pattern!r}: {exc}"
        ) from None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


def _selector(text: str, where: str) -> Any:
    if not text:
        return None
    try:
        return _parsed_selector(text)
    except InvalidSelector as exc:
        raise InstantiationError(f"{where}: {exc}") from None


@functools.lru_cache(maxsize=1024)
def _parsed_selector(text: str) -> Any:
    return parse_selector(text)


@functools.lru_cache(maxsize=1024)
def _operations(text: str) -> tuple[Any, ...] | None:
    """A JSON 6902 patch's operations (None when it is not a list: kustomize says why)."""
    try:
        ops = yaml.load(text, _LOADER)
    except yaml.YAMLError:
        return None
    return tuple(ops) if isinstance(ops, list) else None


def _check_strategic_merge(text: str, where: str) -> None:
    """Sveltos' ``validatePatch``: a strategic-merge patch shaped as an object needs
    ``metadata.name`` (kustomize's message would be obscure)."""
    if is_json_patch(text):
        return
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # kustomize reports it
    if isinstance(body, dict) and body.get("kind"):
        meta = body.get("metadata")
        if not (isinstance(meta, dict) and meta.get("name")):
            raise InstantiationError(
                f"{where}: strategic merge patch for {body.get('apiVersion', '')}/"
                f"{body.get('kind')} requires metadata.name in the patch body; use a JSON "
                "patch (- op: ...) to match resources by a regular expression on the name"
            )


def is_json_patch(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("[") or stripped.startswith("- ")


def selects(target: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    """Sveltos' pre-selection of a patch for an object (``patchMatchesObject``)."""
    if not target:
        return True
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    meta = obj.get("metadata") or {}
    values = {
        "group": group,
        "version": version,
        "kind": str(obj.get("kind") or ""),
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
    }
    for field in TARGET_FIELDS:
        pattern = str(target.get(field) or "")
        if pattern and not _regex(pattern, field).search(values[field]):
            return False
    for field, section in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        selector = _selector(str(target.get(field) or ""), field)
        if selector is not None and not selector.matches(meta.get(section) or {}):
            return False
    return True


def applicable(patch: Mapping[str, Any], obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The patch without its JSON 6902 ``remove`` operations on paths absent from ``obj``
    (None when nothing is left), as Sveltos filters them."""
    text = str(patch["patch"])
    if not is_json_patch(text):
        return dict(patch)
    ops = _operations(text)
    if ops is None:
        return dict(patch)  # kustomize reports it
    kept = [
        op
        for op in ops
        if not (
            isinstance(op, dict)
            and op.get("op") == "remove"
            and op.get("path")
            and not _exists(obj, str(op["path"]))
        )
    ]
    if not kept:
        return None
    if len(kept) == len(ops):
        return dict(patch)
    return {**patch, "patch": json.dumps(list(kept))}


def _exists(obj: Any, pointer: str) -> bool:
    current = obj
    for raw in pointer.strip("/").split("/"):
        if raw == "":
            continue
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                return False
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or int(token) >= len(current):
                return False
            current = current[int(token)]
        else:
            return False
    return True


def apply(
    objects: Sequence[dict[str, Any]], patches: Sequence[Mapping[str, Any]], where: str
) -> list[dict[str, Any] | None]:
    """Each object patched (itself when no patch applies; None when a patch deleted it),
    in order. ``patches`` are :func:`checked` (and rendered); ``where`` names the profile's
    owner in errors."""
    out: list[dict[str, Any] | None] = list(objects)
    if not patches:
        return out
    files: dict[str, str] = {}
    todo: list[int] = []
    for index, obj in enumerate(objects):
        chosen = [p for p in patches if selects(p.get("target"), obj)]
        kept = [a for a in (applicable(p, obj) for p in chosen) if a is not None]
        if not kept:
            continue
        meta = dict(obj.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}), MARK: str(index)}
        # JSON is YAML, and much faster to write
        files[f"o{index}/object.yaml"] = json.dumps({**obj, "metadata": meta})
        files[f"o{index}/kustomization.yaml"] = json.dumps(
            {"resources": ["object.yaml"], "patches": kept}
        )
        todo.append(index)
    if not todo:
        return out
    files["kustomization.yaml"] = json.dumps(
        {"resources": [f"o{i}" for i in todo], "sortOptions": {"order": "fifo"}}
    )
    built = _built(files, where, objects)
    for index in todo:
        out[index] = None  # deleted unless found in the output
    unmarked = []
    for obj in built:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        mark = annotations.pop(MARK, None)
        if not annotations:
            obj["metadata"].pop("annotations", None)
        if mark is None or not str(mark).isdigit() or int(mark) not in todo:
            unmarked.append(obj)
        else:
            out[int(mark)] = obj
    if unmarked:  # a patch replaced the annotations: the output is in the input's order
        if len(built) != len(todo):
            raise InstantiationError(
                f"{where} spec.patches: a patch removed an object and replaced another's "
                "annotations: cannot tell the patched objects apart"
            )
        for index, obj in zip(todo, built, strict=True):
            out[index] = obj
    return out


def _built(
    files: Mapping[str, str], where: str, objects: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The objects kustomize builds from ``files``, read once per distinct input (kept as
    JSON: a copy per recall costs little)."""

    def parsed() -> str:
        text = kustomize.build_files(files, f"{where} spec.patches")
        return json.dumps(rendering.parse_manifests(text, f"{where} spec.patches output"))

    key = kustomize.digest("parsed", *(p for n in sorted(files) for p in (n, files[n])))
    try:
        out: list[dict[str, Any]] = json.loads(kustomize.memoized(key, parsed))
    except kustomize.KustomizeFailed as exc:
        message = _name_objects(str(exc), objects)
        raise InstantiationError(f"{where} spec.patches: {message}") from None
    return out


def _name_objects(message: str, objects: Sequence[Mapping[str, Any]]) -> str:
    """kustomize names each object's kustomization ``oN``: say which object that is."""
    for index in range(len(objects) - 1, -1, -1):
        tag = f"'o{index}'"
        if tag in message:
            meta = objects[index].get("metadata") or {}
            ident = f"{objects[index].get('kind')} {meta.get('namespace') or ''}/{meta.get('name')}"
            return f"patching {ident}: {message}"
    return message
