"""The clusters an agent host runs (``ripple agent-host --clusters FILE``): parsed and
validated entry by entry (pure: the shell reads the files).

    clusters:
      - cluster: NS/NAME          # required
        type: sveltos             # or capi; default sveltos
        kubeconfig: /abs/path     # required (relative: to the file's directory)
        natsUser: agent-NS-NAME   # optional: that cluster's NATS identity
        natsPassword: "..."       # or natsPasswordFile: /path (one of them with natsUser)

YAML or JSON. A file that cannot be read or parsed as a whole is an error of the file: the
host keeps what it runs (stale is never "no cluster"). An entry that is invalid is an error
naming the entry (its index and, when it has one, its cluster) and the field; the other
entries are used. Two entries of one cluster: the second is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.agent.settings import check_cluster
from shared.contract.subjects import ClusterRef


class ClusterEntry(BaseModel):
    """One hosted cluster: who it is, how to reach it, its NATS identity."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    cluster: str = Field(description="The cluster as NAMESPACE/NAME.")
    type: Literal["sveltos", "capi"] = Field("sveltos", description="sveltos or capi.")
    kubeconfig: str = Field(description="Path of the cluster's kubeconfig.")
    nats_user: str | None = Field(None, alias="natsUser")
    nats_password: str | None = Field(None, alias="natsPassword", repr=False)
    nats_password_file: str | None = Field(None, alias="natsPasswordFile")

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str) -> str:
        return check_cluster(value)

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> ClusterEntry:
        if self.nats_password is not None and self.nats_password_file is not None:
            raise ValueError("natsPassword and natsPasswordFile: give one of them")
        secret = self.nats_password is not None or self.nats_password_file is not None
        if self.nats_user and not secret:
            raise ValueError("natsUser needs natsPassword or natsPasswordFile")
        if secret and not self.nats_user:
            raise ValueError("natsPassword/natsPasswordFile given without natsUser")
        return self

    @property
    def ref(self) -> ClusterRef:
        namespace, _, name = self.cluster.partition("/")
        return ClusterRef(namespace=namespace, name=name, type=self.type)

    @property
    def key(self) -> str:
        """The cluster's identity in the host (``sveltos:NS/NAME`` or ``capi:NS/NAME``)."""
        return str(self.ref)


@dataclass
class Parsed:
    """What a clusters file says: its valid entries by cluster key, and its errors (one line
    each, naming the file, the entry and the field); ``failed`` when the file as a whole
    could not be read (then ``entries`` is empty and means nothing)."""

    entries: dict[str, ClusterEntry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failed: bool = False
    #: clusters named by an invalid entry (their running agent, if any, is kept as it is)
    invalid: set[str] = field(default_factory=set)


def _resolve(path: str, base: str) -> str:
    if not base or PurePosixPath(path).is_absolute():
        return path
    return str(PurePosixPath(base) / path)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def load_text(text: str, source: str) -> Any:
    """The document in ``text`` (JSON or YAML); :class:`ValueError` naming ``source``."""
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{source}: not YAML or JSON: {exc}") from None


def parse(text: str, source: str, base_dir: str = "") -> Parsed:
    """Parse a clusters file's ``text`` (``source`` names it in errors; relative paths are
    relative to ``base_dir``)."""
    try:
        document = load_text(text, source)
    except ValueError as exc:
        return Parsed(errors=[str(exc)], failed=True)
    if document is None:
        document = {"clusters": []}
    if not isinstance(document, dict) or not isinstance(document.get("clusters", []), list):
        return Parsed(errors=[f"{source}: expected a mapping with a list 'clusters'"], failed=True)
    unknown = sorted(set(document) - {"clusters"})
    out = Parsed()
    if unknown:
        out.errors.append(f"{source}: unknown field(s) {', '.join(map(str, unknown))} (ignored)")
    for index, raw in enumerate(document.get("clusters") or []):
        entry, error = parse_entry(raw, f"{source}: clusters[{index}]", base_dir)
        if entry is None:
            out.errors.append(error)
            if isinstance(raw, dict) and isinstance(raw.get("cluster"), str):
                out.invalid.add(f"{raw.get('type') or 'sveltos'}:{raw['cluster']}")
            continue
        if entry.key in out.entries:
            out.errors.append(f"{source}: clusters[{index}] ({entry.key}): listed twice")
            continue
        out.entries[entry.key] = entry
    return out


def parse_entry(raw: Any, where: str, base_dir: str = "") -> tuple[ClusterEntry | None, str]:
    """One entry, or the error naming ``where`` (and its cluster when it has one)."""
    if not isinstance(raw, dict):
        return None, f"{where}: expected a mapping, got {type(raw).__name__}"
    name = raw.get("cluster")
    label = f"{where} ({name})" if isinstance(name, str) and name else where
    try:
        entry = ClusterEntry.model_validate(raw)
    except ValidationError as exc:
        return None, f"{label}: {_describe(exc)}"
    paths = {"kubeconfig": _resolve(entry.kubeconfig, base_dir)}
    if entry.nats_password_file:
        paths["nats_password_file"] = _resolve(entry.nats_password_file, base_dir)
    return entry.model_copy(update=paths), ""


__all__ = ["ClusterEntry", "Parsed", "load_text", "parse", "parse_entry"]
