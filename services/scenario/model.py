"""The scenario format (pure: parsing and validation, no I/O beyond reading the folder's files).

A scenario folder (see ``../shared/scenarios/README.md``)::

    fleet.yaml      clusters: [{namespace, name, type: sveltos|capi, labels}]
    crds/           optional CRDs applied to every managed cluster first
    management/     definitions applied to the management cluster
    cluster/        objects that steps apply to managed clusters
    expect/         objects that steps expect to find
    charts/         optional: Helm charts served to the stack (:mod:`services.scenario.charts`)
    steps.yaml      steps: [{apply|delete|label|manage|expect|confirm-withdrawal: {...}}]

:func:`load_scenario` reads and validates all of it, so a typo is reported before anything is
started, with the file, the step number (1-based) and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.scenario.charts import chart_entries, check_placeholders
from services.scenario.definitions import ConfirmWithdrawalStep, DefinitionRef, MessageExpectation
from services.scenario.errors import ScenarioError
from services.scenario.files import read_objects as read_objects
from services.scenario.files import read_yaml as read_yaml
from services.scenario.files import yaml_files as yaml_files
from services.scenario.releases import ExpectedRelease, ReleaseRef
from shared.api.vocabulary import SVELTOS
from shared.api.vocabulary import ClusterTypeLower as ClusterType

MANAGEMENT = "management"
"""The name under which the management cluster is addressed (``Stack.client("management")``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- fleet ------------------------------------------------------------------------------------
class FleetCluster(_Strict):
    """One managed cluster of ``fleet.yaml``."""

    namespace: str = "default"
    name: str = Field(min_length=1)
    type: ClusterType = SVELTOS
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``namespace/name``, the form steps use."""
        return f"{self.namespace}/{self.name}"


class Fleet(BaseModel):
    """``fleet.yaml``: the clusters to create (other top-level keys are the fleet's own)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    clusters: list[FleetCluster] = Field(min_length=1)
    #: ref -> position in ``clusters`` (a hit is checked against the list, so a copy with
    #: other clusters never answers from a stale index)
    _index: dict[str, int] = pydantic.PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> Fleet:
        seen: set[str] = set()
        for cluster in self.clusters:
            if cluster.ref in seen:
                raise ValueError(f"cluster {cluster.ref} is listed twice")
            seen.add(cluster.ref)
        return self

    def cluster(self, ref: str) -> FleetCluster:
        """The cluster ``NS/NAME`` (in constant time: stacks of 1,000 clusters ask often)."""
        pos = self._index.get(ref)
        if pos is not None and pos < len(self.clusters) and self.clusters[pos].ref == ref:
            return self.clusters[pos]
        self._index = {c.ref: i for i, c in enumerate(self.clusters)}
        if ref in self._index:
            return self.clusters[self._index[ref]]
        known = ", ".join(c.ref for c in self.clusters)
        raise KeyError(f"cluster {ref!r} is not in fleet.yaml (clusters: {known})")


# -- steps ------------------------------------------------------------------------------------
class ObjectRef(_Strict):
    """``{apiVersion, kind, namespace, name}`` (namespace empty for cluster-scoped kinds)."""

    api_version: str = Field(alias="apiVersion", min_length=1)
    kind: str = Field(min_length=1)
    namespace: str = ""
    name: str = Field(min_length=1)

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


def _cluster_ref(value: str) -> str:
    ns, sep, name = value.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise ValueError(f"must be NAMESPACE/NAME, got {value!r}")
    return value


ClusterRef = Annotated[str, AfterValidator(_cluster_ref)]


class ApplyStep(_Strict):
    """Create or update the objects of a file in a managed cluster."""

    action: Literal["apply"] = "apply"
    cluster: ClusterRef
    file: str

    def describe(self) -> str:
        return f"apply {self.file} to {self.cluster}"


class DeleteStep(_Strict):
    """Delete one object of a managed cluster."""

    action: Literal["delete"] = "delete"
    cluster: ClusterRef
    api_version: str = Field(alias="apiVersion", min_length=1)
    kind: str = Field(min_length=1)
    namespace: str = ""
    name: str = Field(min_length=1)

    @property
    def object(self) -> ObjectRef:
        return ObjectRef(
            api_version=self.api_version, kind=self.kind, namespace=self.namespace, name=self.name
        )

    def describe(self) -> str:
        return f"delete {self.object} from {self.cluster}"


class LabelStep(_Strict):
    """Change a registered cluster's labels in the management cluster (``None`` removes)."""

    action: Literal["label"] = "label"
    cluster: ClusterRef
    labels: dict[str, str | None] = Field(min_length=1)

    def describe(self) -> str:
        parts = [f"{k}-" if v is None else f"{k}={v}" for k, v in self.labels.items()]
        return f"label {self.cluster} {' '.join(parts)}"


class ManageStep(_Strict):
    """Apply or delete a definition file on the management side."""

    action: Literal["manage"] = "manage"
    apply: str | None = None
    delete: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ManageStep:
        if (self.apply is None) == (self.delete is None):
            raise ValueError("manage needs exactly one of 'apply' or 'delete'")
        return self

    @property
    def file(self) -> str:
        return self.apply if self.apply is not None else str(self.delete)

    @property
    def verb(self) -> str:
        return "apply" if self.apply is not None else "delete"

    def describe(self) -> str:
        return f"manage {self.verb} {self.file}"


class ExpectStep(_Strict):
    """Wait (up to the deadline) until every ``present`` file matches, ``absent`` is gone, the
    Helm releases hold (:mod:`services.scenario.releases`) and the ``definition``'s
    ``failureMessage`` is as given (:mod:`services.scenario.definitions`); with ``for``, it
    must then keep holding for that many seconds."""

    action: Literal["expect"] = "expect"
    cluster: ClusterRef | None = None
    present: list[str] = Field(default_factory=list)
    absent: list[ObjectRef] = Field(default_factory=list)
    releases: list[ExpectedRelease] = Field(default_factory=list)
    absent_releases: list[ReleaseRef] = Field(default_factory=list, alias="absentReleases")
    definition: DefinitionRef | None = None
    failure_message: MessageExpectation | None = Field(default=None, alias="failureMessage")
    for_: float | None = Field(default=None, alias="for", gt=0, le=120)

    @model_validator(mode="after")
    def _something(self) -> ExpectStep:
        in_cluster = self.present or self.absent or self.releases or self.absent_releases
        if not in_cluster and (self.cluster is not None or self.definition is None):
            raise ValueError(
                "expect needs 'present', 'absent', 'releases' or 'absentReleases'"
                + ("" if self.cluster else " (with 'cluster'), or 'definition'")
            )
        if in_cluster and self.cluster is None:
            raise ValueError("expect needs 'cluster' for 'present', 'absent' and releases")
        said = "failure_message" in self.model_fields_set
        if self.definition is not None and not said:
            raise ValueError("'definition' needs 'failureMessage' ({contains: TEXT} or null)")
        if said and self.definition is None:
            raise ValueError("'failureMessage' needs 'definition' ({kind, name})")
        named = [f"{r.namespace}/{r.name}" for r in [*self.releases, *self.absent_releases]]
        twice = sorted({n for n in named if named.count(n) > 1})
        if twice:
            raise ValueError(f"release {', '.join(twice)} is named more than once")
        return self

    def describe(self) -> str:
        parts = []
        if self.present:
            parts.append("present " + ", ".join(Path(p).name for p in self.present))
        if self.absent:
            parts.append("absent " + ", ".join(str(a) for a in self.absent))
        if self.releases:
            parts.append("release " + ", ".join(f"{r.namespace}/{r.name}" for r in self.releases))
        if self.absent_releases:
            parts.append(
                "no release " + ", ".join(f"{r.namespace}/{r.name}" for r in self.absent_releases)
            )
        text = f"expect in {self.cluster}: {'; '.join(parts)}" if parts else "expect"
        if self.definition is not None:
            said = self.failure_message.describe() if self.failure_message else "is cleared"
            text += f"{';' if parts else ''} {self.definition}: failureMessage {said}"
        return text + (f" (for {self.for_:g} s)" if self.for_ is not None else "")


Action = ApplyStep | DeleteStep | LabelStep | ManageStep | ExpectStep | ConfirmWithdrawalStep
ACTIONS: dict[str, type[BaseModel]] = {
    "apply": ApplyStep,
    "delete": DeleteStep,
    "label": LabelStep,
    "manage": ManageStep,
    "expect": ExpectStep,
    "confirm-withdrawal": ConfirmWithdrawalStep,
}


class Step(_Strict):
    """One numbered step (``number`` is 1-based, as printed)."""

    number: int
    action: Action = Field(discriminator="action")

    @property
    def kind(self) -> str:
        return self.action.action

    @property
    def is_expect(self) -> bool:
        return isinstance(self.action, ExpectStep)

    def describe(self) -> str:
        return self.action.describe()


# -- parsing ----------------------------------------------------------------------------------
def _format_validation(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"] if p != "action")
        msg = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_step(raw: object, number: int, source: str = "steps.yaml") -> Step:
    """One entry of ``steps:`` -> :class:`Step`; :class:`ScenarioError` names step and field."""
    where = f"{source}: step {number}"
    if not isinstance(raw, dict) or len(raw) != 1:
        shown = list(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ScenarioError(
            f"{where}: a step is a mapping with exactly one key among "
            f"{', '.join(ACTIONS)}; got {shown}"
        )
    ((verb, body),) = raw.items()
    if verb not in ACTIONS:
        raise ScenarioError(
            f"{where}: unknown step {verb!r} (expected one of {', '.join(ACTIONS)})"
        )
    if not isinstance(body, dict):
        raise ScenarioError(f"{where} ({verb}): expected a mapping, got {type(body).__name__}")
    try:
        action = ACTIONS[verb].model_validate({**body, "action": verb})
    except ValidationError as err:
        raise ScenarioError(f"{where} ({verb}): {_format_validation(err)}") from None
    return Step(number=number, action=action)


def parse_steps(document: object, source: str = "steps.yaml") -> list[Step]:
    """The whole ``steps.yaml`` document (``{steps: [...]}``) -> steps."""
    if not isinstance(document, dict) or "steps" not in document:
        raise ScenarioError(f"{source}: expected a mapping with a 'steps' list")
    extra = sorted(set(document) - {"steps"})
    if extra:
        raise ScenarioError(f"{source}: unknown top-level key(s) {extra} (only 'steps')")
    raw = document["steps"]
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"{source}: 'steps' must be a non-empty list")
    return [parse_step(item, i + 1, source) for i, item in enumerate(raw)]


def load_fleet(path: Path) -> Fleet:
    try:
        return Fleet.model_validate(read_yaml(path))
    except ValidationError as err:
        raise ScenarioError(f"{path}: {_format_validation(err)}") from None


class Scenario(BaseModel):
    """A loaded and validated scenario folder."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    path: Path
    fleet: Fleet
    steps: list[Step]

    @property
    def crds_dir(self) -> Path:
        return self.path / "crds"

    @property
    def management_dir(self) -> Path:
        return self.path / "management"

    @property
    def charts_dir(self) -> Path:
        return self.path / "charts"

    @property
    def fleet_file(self) -> Path:
        return self.path / "fleet.yaml"

    def resolve(self, relative: str) -> Path:
        return self.path / relative


def validate_references(
    steps: list[Step], fleet: Fleet, base: Path, source: str
) -> dict[str, list[dict[str, Any]]]:
    """Every cluster a step names is in the fleet; every file it names exists and parses.
    Returns the objects of the files that ``manage`` steps apply, by step and file."""
    applied: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        action = step.action
        where = f"{source}: step {step.number} ({step.kind})"
        cluster = getattr(action, "cluster", None)
        if cluster is not None:
            try:
                fleet.cluster(cluster)
            except KeyError as err:
                raise ScenarioError(f"{where}: {err.args[0]}") from None
        files: list[str] = []
        if isinstance(action, ApplyStep | ManageStep):
            files = [action.file]
        elif isinstance(action, ExpectStep):
            files = list(action.present)
        for rel in files:
            path = base / rel
            if not path.is_file():
                raise ScenarioError(f"{where}: file {rel} does not exist (in {base})")
            try:
                objects = read_objects(path)
            except ScenarioError as err:
                raise ScenarioError(f"{where}: {err}") from None
            if not objects:
                raise ScenarioError(f"{where}: file {rel} holds no object")
            if isinstance(action, ManageStep) and action.apply is not None:
                applied[f"{where} {rel}"] = objects
    return applied


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario folder (see the module doc)."""
    folder = Path(path)
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: not a scenario folder")
    for required in ("fleet.yaml", "steps.yaml"):
        if not (folder / required).is_file():
            raise ScenarioError(f"{folder}: {required} is missing")
    fleet = load_fleet(folder / "fleet.yaml")
    source = str(folder / "steps.yaml")
    steps = parse_steps(read_yaml(folder / "steps.yaml"), source)
    definitions = validate_references(steps, fleet, folder, source)
    for file in yaml_files(folder / "crds"):
        read_objects(file)
    definitions |= {str(f): read_objects(f) for f in yaml_files(folder / "management")}
    check_placeholders(definitions, chart_entries(folder / "charts"), folder / "charts")
    return Scenario(name=folder.name, path=folder.resolve(), fleet=fleet, steps=steps)
