"""The kustomize directory a ConfigMap/Secret holds: unpacked and checked before a build.

- :func:`extract` unpacks the tar archive (gzip-compressed or not, as Sveltos sniffs it):
  regular files and directories only, every path inside the destination, within
  :data:`MAX_ARCHIVE_BYTES` unpacked and :data:`MAX_ENTRIES` entries;
- :func:`check_tree` refuses what would make kustomize leave the archive: remote bases
  (URLs: Ripple builds without network access), paths outside the archive (absolute, or
  ``..`` beyond its root: ``configMapGenerator`` reading ``/etc/passwd``), helm inflation.
"""

from __future__ import annotations

import io
import os
import tarfile
import zlib
from pathlib import Path
from typing import Any

import yaml

from services.manager.errors import InstantiationError
from shared.api.yamlio import YamlTooLarge, load_bounded

#: the largest unpacked archive, all files together, and its number of entries
MAX_ARCHIVE_BYTES = 64 << 20
MAX_ENTRIES = 10_000
#: the names kustomize reads a kustomization from, in its order
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class KustomizeFailed(InstantiationError):
    """A kustomize build that failed or was refused (the message says which, and why).
    ``transient``: the machine failed, not the input (a timeout, no kubectl, a full disk):
    worth trying again later."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


# -- archives -----------------------------------------------------------------------------------
def extract(archive: bytes, dest: Path) -> None:
    """Unpack a tar archive, gzip-compressed or not (as Sveltos sniffs it), into ``dest``:
    regular files and directories only (links and devices are skipped, as macOS ``._*`` and
    PAX header entries are), every path inside ``dest``, within the bounds."""
    mode = "r:gz" if archive[:2] == b"\x1f\x8b" else "r:"
    total = entries = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode=mode) as tar:  # type: ignore[call-overload]
            for member in tar:
                entries += 1
                if entries > MAX_ENTRIES:
                    raise KustomizeFailed(f"the archive has more than {MAX_ENTRIES} entries")
                name = member.name
                if os.path.basename(name).startswith("._") or "PaxHeader" in name:
                    continue
                relative = os.path.normpath(name.lstrip("/"))
                if relative.startswith("..") or os.path.isabs(relative):
                    raise KustomizeFailed(f"archive entry {name!r} is outside of the archive")
                target = dest / relative
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isreg():
                    total += member.size
                    if total > MAX_ARCHIVE_BYTES:
                        raise KustomizeFailed(
                            f"the archive unpacks to more than {MAX_ARCHIVE_BYTES} bytes"
                        )
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(source.read(member.size))
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise KustomizeFailed(f"not a tar.gz archive: {exc}") from None


# -- what a kustomization may read --------------------------------------------------------------
_PATH_LISTS = ("resources", "bases", "components")
_FILE_LISTS = ("crds", "configurations")
_PLUGIN_LISTS = ("generators", "transformers", "validators")
_HELM = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")
_REMOTE_HINTS = ("://", "github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::")


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def check_tree(root: Path, start: Path) -> None:
    """Refuse what would make kustomize leave the archive: a remote base (a URL: no network
    here), a path outside the archive (absolute, or ``..`` beyond its root), helm inflation.
    Walks every kustomization reachable from ``start``; what kustomize itself refuses (a
    missing field, bad YAML) is left to kustomize's own message."""
    root = root.resolve()
    seen: set[Path] = set()
    todo = [start.resolve()]
    while todo:
        directory = todo.pop()
        if directory in seen:
            continue
        seen.add(directory)
        file = kustomization_file(directory)
        if file is None:
            continue
        where = file.relative_to(root).as_posix()
        try:
            docs = load_bounded(file.read_text(errors="replace"), yaml.SafeLoader)
        except (YamlTooLarge, yaml.YAMLError, ValueError):
            continue  # kustomize says what is wrong with it
        body = docs[0] if docs else None
        if not isinstance(body, dict):
            continue
        for key in _HELM:
            if body.get(key):
                raise KustomizeFailed(
                    f"{where}: {key} is not supported (kustomize's helm inflation runs helm "
                    "and downloads charts; use the trigger's helmCharts)"
                )

        check = _Checker(root, directory, where, todo)
        for field in _PATH_LISTS:
            for entry in _list(body.get(field)):
                check(entry, field, walk=True)
        for field in _FILE_LISTS:
            for entry in _list(body.get(field)):
                check(entry, field)
        for field in _PLUGIN_LISTS:
            for entry in _list(body.get(field)):
                check(entry, field, walk=True, inline_ok=True)
        for entry in _list(body.get("patchesStrategicMerge")):
            check(entry, "patchesStrategicMerge", inline_ok=True)
        for field in ("patches", "patchesJson6902", "replacements"):
            for entry in _list(body.get(field)):
                if isinstance(entry, dict):
                    check(entry.get("path"), f"{field}.path")
        openapi = body.get("openapi")
        if isinstance(openapi, dict):
            check(openapi.get("path"), "openapi.path")
        for field in ("configMapGenerator", "secretGenerator"):
            for entry in _list(body.get(field)):
                if not isinstance(entry, dict):
                    continue
                for item in _list(entry.get("files")):
                    check(item, f"{field}.files")
                for item in _list(entry.get("envs")):
                    check(item, f"{field}.envs")
                check(entry.get("env"), f"{field}.env")


class _Checker:
    """Checks the paths one kustomization names (relative to its directory)."""

    def __init__(self, root: Path, directory: Path, where: str, todo: list[Path]) -> None:
        self.root, self.directory, self.where, self.todo = root, directory, where, todo

    def __call__(
        self, value: Any, field: str, *, walk: bool = False, inline_ok: bool = False
    ) -> None:
        if not isinstance(value, str) or not value:
            return
        if inline_ok and ("\n" in value or value.lstrip().startswith(("{", "["))):
            return  # an inline document, not a path
        path = value.split("=", 1)[1] if field.endswith(".files") and "=" in value else value
        what = f"{self.where}: {field} entry {value!r}"
        if any(hint in path for hint in _REMOTE_HINTS):
            raise KustomizeFailed(
                f"{what} is a remote base: refused, Ripple builds kustomizations without "
                "network access (put the base in the archive)"
            )
        resolved = Path(os.path.normpath(self.directory / path))
        if os.path.isabs(path) or not (resolved == self.root or self.root in resolved.parents):
            raise KustomizeFailed(f"{what} is outside of the archive: refused")
        if not resolved.exists():
            raise KustomizeFailed(f"{what} is not a file or directory of the archive")
        if walk and resolved.is_dir():
            self.todo.append(resolved)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
