"""Helm releases in expectations: what a scenario expects of them, how Helm stores them, and
the comparison (pure, but for :func:`read_release`, one list through the official client).

An ``expect`` step may name releases (``../services/scenario/README.md``)::

    expect:
      cluster: default/cluster-a
      releases: [{namespace: kyverno, name: kyverno-latest, status: deployed, revision: 2,
                  chart: kyverno, chartVersion: 2.6.0}]
      absentReleases: [{namespace: kyverno, name: kyverno-latest}]

Only the fields given are compared (as ``present`` compares objects as subsets).

**Storage.** Helm (its default storage driver, ``secret``) keeps each revision of a release
in a Secret ``sh.helm.release.v1.<name>.v<revision>`` of the release namespace, labelled
``owner=helm``, ``name=<release>``, ``version=<revision>`` and ``status=<status>``. The
highest ``version`` is the current revision and its ``status`` label the release's status;
a release whose current revision is ``uninstalled`` (uninstalled with ``keepHistory``) counts
as absent, as ``helm list`` does not show it. The chart is in the Secret's ``release`` data:
base64 (the Secret's own encoding) of base64 of gzip of the release's JSON, whose
``.chart.metadata`` has ``name`` and ``version``; it is decoded only when an expectation
names ``chart`` or ``chartVersion``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from shared.kube import KubeClient

#: the statuses Helm gives a release (``helm.sh/helm/v4/pkg/release/common``)
STATUSES = (
    "deployed",
    "superseded",
    "failed",
    "pending-install",
    "pending-upgrade",
    "pending-rollback",
    "uninstalling",
    "uninstalled",
    "unknown",
)
_GZIP_MAGIC = b"\x1f\x8b"


class ReleaseRef(BaseModel):
    """A release by namespace and name (``absentReleases`` entries)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)

    def __str__(self) -> str:
        return f"Helm release {self.namespace}/{self.name}"


class ExpectedRelease(ReleaseRef):
    """A release that must exist (``releases`` entries); ``None``: not compared."""

    status: str | None = None
    revision: int | None = Field(default=None, ge=1)
    chart: str | None = Field(default=None, min_length=1)
    chart_version: str | None = Field(default=None, alias="chartVersion", min_length=1)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value == "uninstalled":
            raise ValueError(
                "a release whose latest revision is uninstalled counts as absent: "
                "use absentReleases"
            )
        if value is not None and value not in STATUSES:
            raise ValueError(f"unknown Helm status {value!r} (one of {', '.join(STATUSES)})")
        return value

    @field_validator("chart_version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"write the version as a string (quote {value!r} in YAML)")
        return value

    @property
    def needs_chart(self) -> bool:
        """Whether comparing needs the decoded release (the chart's name or version)."""
        return self.chart is not None or self.chart_version is not None


@dataclass
class Release:
    """The current revision of a stored release (see the module doc)."""

    namespace: str
    name: str
    revision: int
    status: str
    data: str = ""
    """The ``release`` data of the revision's Secret, as the API returns it."""
    _decoded: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        """What changes with each operation (``"revision N"``), for "was updated"."""
        return f"revision {self.revision}"

    def decoded(self) -> dict[str, Any]:
        if self._decoded is None:
            self._decoded = decode_release(self.data)
        return self._decoded

    def chart_metadata(self) -> dict[str, Any]:
        chart = self.decoded().get("chart") or {}
        meta = chart.get("metadata") if isinstance(chart, dict) else None
        return meta if isinstance(meta, dict) else {}

    def describe(self) -> str:
        """``revision 2, deployed`` (and the chart when it was decoded)."""
        text = f"{self.version}, {self.status}"
        if self._decoded is not None:
            meta = self.chart_metadata()
            text += f", chart {meta.get('name', '?')} {meta.get('version', '?')}"
        return text


def decode_release(data: str | bytes) -> dict[str, Any]:
    """The release JSON of a storage Secret's ``release`` data. Accepts the data as the API
    returns it (base64 of Helm's encoding) or Helm's encoding itself (base64 of gzip of JSON,
    or of plain JSON as very old Helm wrote it); :class:`ValueError` otherwise."""
    raw = data.encode() if isinstance(data, str) else data
    for _ in range(2):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as err:
            raise ValueError(f"release data is not base64: {err}") from None
        if raw.startswith(_GZIP_MAGIC):
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as err:
                raise ValueError(f"release data is not valid gzip: {err}") from None
            break
        if raw.lstrip().startswith(b"{"):
            break
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"release data is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise ValueError(f"release data is a JSON {type(body).__name__}, not an object")
    return body


def _int(text: object) -> int:
    try:
        return int(str(text))
    except ValueError:
        return -1


def current_release(secrets: list[dict[str, Any]], namespace: str, name: str) -> Release | None:
    """The current revision of release ``namespace/name`` among Helm's storage Secrets (those
    of other releases or namespaces are ignored); ``None`` when there is none or it is
    ``uninstalled``."""
    best: dict[str, Any] | None = None
    best_version = -1
    for secret in secrets:
        meta = secret.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get("owner") != "helm" or labels.get("name") != name:
            continue
        if (meta.get("namespace") or namespace) != namespace:
            continue
        version = _int(labels.get("version"))
        if version > best_version:
            best, best_version = secret, version
    if best is None:
        return None
    status = str(((best.get("metadata") or {}).get("labels") or {}).get("status", ""))
    if status == "uninstalled":
        return None
    data = str((best.get("data") or {}).get("release", ""))
    return Release(namespace, name, best_version, status, data)


def check_release(expected: ExpectedRelease, release: Release | None) -> list[str]:
    """Why ``release`` does not hold the expectation (empty: it holds)."""
    if release is None:
        return ["missing: no such release (or its latest revision is uninstalled)"]
    problems = []
    if expected.status is not None and release.status != expected.status:
        problems.append(f"status: expected {expected.status}, got {release.status}")
    if expected.revision is not None and release.revision != expected.revision:
        problems.append(f"revision: expected {expected.revision}, got {release.revision}")
    if expected.needs_chart:
        try:
            meta = release.chart_metadata()
        except ValueError as err:
            return [*problems, f"cannot decode revision {release.revision}: {err}"]
        for key, want in (("name", expected.chart), ("version", expected.chart_version)):
            have = meta.get(key)
            if want is not None and str(have) != want:
                label = "chart" if key == "name" else "chartVersion"
                problems.append(f"{label}: expected {want}, got {have}")
    return problems


def check_absent(release: Release | None) -> list[str]:
    """Why the release is not absent (empty: it is)."""
    if release is None:
        return []
    return [f"still installed ({release.version}, {release.status})"]


def selector(name: str) -> str:
    """The label selector of a release's storage Secrets."""
    return f"owner=helm,name={name}"


def read_release(client: KubeClient, ref: ReleaseRef) -> Release | None:
    """The current revision of a release, read from its storage Secrets (one list)."""
    from shared.kube import GVK

    secrets, _ = client.list(GVK("v1", "Secret"), ref.namespace, label_selector=selector(ref.name))
    return current_release(secrets, ref.namespace, ref.name)
