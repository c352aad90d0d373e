"""EventSource (``lib.projectsveltos.io`` v1alpha1 and v1beta1).

Every accepted shape loads into ONE normalised model, :class:`EventSource`:

* v1beta1 ``spec.resourceSelectors[]`` with ``evaluate``/``evaluateCEL``/``selector``;
* v1alpha1 ``spec.resourceSelectors[]`` whose Lua is in ``script`` (also seen in early
  v1beta1): loaded as ``evaluate``;
* v1alpha1 FLAT form (``spec.group/version/kind/namespace/labelFilters/script``; the spec
  text's misspelling ``labelsFilters`` is accepted): loaded as a single ResourceSelector.

Round trip: the model remembers the original shape (flat spec, ``script`` key) and
:meth:`EventSource.to_dict` / ``dump_yaml`` write it back in that shape with the original
apiVersion. ``labelsFilters`` is written back as ``labelFilters``. Use
:meth:`EventSource.normalized` for the v1beta1 form. Equality (``==``) compares values only,
not the remembered shape, so a v1alpha1 object equals its normalised spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.api.meta import ApiModel, TypedObject
from shared.api.selectors import LabelSelector
from shared.api.vocabulary import (
    EVENT_SOURCE,
    EVENT_SOURCE_FINALIZER,
    LIB_GROUP,
    LIB_V1ALPHA1,
    LIB_V1BETA1,
)

GROUP = LIB_GROUP
V1ALPHA1 = LIB_V1ALPHA1
V1BETA1 = LIB_V1BETA1
KIND = EVENT_SOURCE.kind
FINALIZER = EVENT_SOURCE_FINALIZER

LabelOperation = Literal["Equal", "Different", "Has", "DoesNotHave"]

#: keys of the v1alpha1 flat spec that belong to the single selector
_FLAT_SELECTOR_KEYS = ("group", "version", "kind", "namespace", "labelFilters", "labelsFilters")
_FLAT_KEYS = (*_FLAT_SELECTOR_KEYS, "script")


class LabelFilter(ApiModel):
    """One label condition of a ResourceSelector (sveltos-semantics.md §1.4)."""

    key: str = Field(min_length=1, description="Label key.")
    operation: LabelOperation = Field(
        description="Equal, Different (also matches when absent), Has, DoesNotHave."
    )
    value: str = Field(default="", description="Label value (Equal, Different).")

    @field_validator("value", mode="before")
    @classmethod
    def _null_value(cls, value: object) -> object:
        return "" if value is None else value

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        present = self.key in labels
        if self.operation == "Equal":
            return present and labels[self.key] == self.value
        if self.operation == "Different":
            return not present or labels[self.key] != self.value
        if self.operation == "Has":
            return present
        return not present

    def to_selector_term(self) -> str:
        """The term Sveltos puts in the List labelSelector for this filter."""
        if self.operation == "Equal":
            return f"{self.key}={self.value}"
        if self.operation == "Different":
            return f"{self.key}!={self.value}"
        if self.operation == "Has":
            return self.key
        return f"!{self.key}"


def label_filters_match(filters: list[LabelFilter], labels: Mapping[str, str] | None) -> bool:
    """All filters hold (AND); no filter means match."""
    return all(f.matches(labels) for f in filters)


class CELRule(ApiModel):
    name: str
    rule: str


def _merge_label_filter_spellings(data: dict[str, Any], where: str) -> dict[str, Any]:
    if "labelsFilters" in data:
        if "labelFilters" in data or "label_filters" in data:
            raise ValueError(f"{where}: both 'labelFilters' and 'labelsFilters' are set; use one")
        data = dict(data)
        data["labelFilters"] = data.pop("labelsFilters")
    return data


class ResourceSelector(ApiModel):
    """Which objects of one GVK are candidates, and the per-object filters."""

    group: str = Field(default="", description="API group of the objects ('' for core).")
    version: str = Field(min_length=1, description="API version of the objects.")
    kind: str = Field(min_length=1, description="Kind of the objects.")
    namespace: str = Field(default="", description="Only this namespace ('' for all).")
    name: str = Field(default="", description="Only the object of this name.")
    label_filters: list[LabelFilter] = Field(
        default_factory=list, alias="labelFilters", description="Label conditions, ANDed."
    )
    selector: LabelSelector | None = Field(
        default=None, description="A label selector, ANDed with labelFilters."
    )
    evaluate: str = Field(
        default="",
        description=(
            "Lua: a function evaluate() returning {matching = bool, message = string}, "
            "run sandboxed for each object."
        ),
    )
    evaluate_cel: list[CELRule] = Field(
        default_factory=list,
        alias="evaluateCEL",
        description="CEL rules over 'resource', ORed; with Lua, CEL true or Lua true.",
    )

    #: the Lua was given as ``script`` (v1alpha1 spelling); dumped back that way
    _script_key: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _legacy(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        script_key = False
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}
            data = _merge_label_filter_spellings(data, "resourceSelector")
            if "script" in data:
                if "evaluate" in data:
                    raise ValueError("both 'script' and 'evaluate' are set; use 'evaluate'")
                data["evaluate"] = data.pop("script")
                script_key = True
        inst = handler(data)
        if script_key and isinstance(inst, ResourceSelector):
            inst._script_key = True
        return inst

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        out = handler(self)
        if self._script_key and isinstance(out, dict) and "evaluate" in out:
            out = {("script" if k == "evaluate" else k): v for k, v in out.items()}
        return out

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def label_selector_string(self) -> str:
        """labelFilters (and ``selector``) as one selector string, ANDed with commas."""
        from shared.api.selectors import selector_to_string

        terms = [f.to_selector_term() for f in self.label_filters]
        extra = selector_to_string(self.selector)
        if extra:
            terms.append(extra)
        return ",".join(terms)

    def labels_match(self, labels: Mapping[str, str] | None) -> bool:
        """labelFilters AND selector hold for ``labels``."""
        if not label_filters_match(self.label_filters, labels):
            return False
        return self.selector is None or self.selector.matches(labels or {})


class MessagingMatchCriteria(ApiModel):
    """CloudEvent criteria: each field an unanchored regexp, ANDed; empty means any."""

    subject: str = ""
    cloud_event_source: str = Field(default="", alias="cloudEventSource")
    cloud_event_type: str = Field(default="", alias="cloudEventType")
    cloud_event_subject: str = Field(default="", alias="cloudEventSubject")


class EventSourceSpec(ApiModel):
    resource_selectors: list[ResourceSelector] = Field(
        default_factory=list,
        alias="resourceSelectors",
        description="Which objects are events; the matches of every selector, together.",
    )
    aggregated_selection: str = Field(
        default="",
        alias="aggregatedSelection",
        description=(
            "Lua run once over all the selected objects (global 'resources'); returns "
            "{resources = {...}, message = string}: the matching set."
        ),
    )
    collect_resources: bool = Field(
        default=False,
        alias="collectResources",
        description="Copy the matching objects into the EventReport (template data .Resource).",
    )
    messaging_match_criteria: list[MessagingMatchCriteria] = Field(
        default_factory=list,
        alias="messagingMatchCriteria",
        description="CloudEvents (from NATS) that are events; criteria ORed.",
    )

    #: loaded from the v1alpha1 flat form; dumped back flat
    _flat: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _flat_form(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        flat = False
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}
            flat_keys = [k for k in _FLAT_KEYS if k in data]
            if flat_keys:
                if "resourceSelectors" in data or "resource_selectors" in data:
                    raise ValueError(
                        "the v1alpha1 flat form (" + ", ".join(flat_keys) + ") cannot be "
                        "combined with resourceSelectors; use one or the other"
                    )
                flat = True
                data = dict(data)
                selector = {k: data.pop(k) for k in flat_keys}
                data["resourceSelectors"] = [selector]
        inst = handler(data)
        if flat and isinstance(inst, EventSourceSpec):
            inst._flat = True
        return inst

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        out = handler(self)
        if not (self._flat and isinstance(out, dict) and info.by_alias is not False):
            return out
        selectors = out.pop("resourceSelectors", None) or [{}]
        if len(selectors) != 1:
            return {"resourceSelectors": selectors, **out}
        flat: dict[str, Any] = {}
        for key, value in selectors[0].items():
            flat["script" if key == "evaluate" else key] = value
        flat.update(out)
        return flat

    @property
    def is_flat(self) -> bool:
        """Loaded from (and dumped as) the v1alpha1 flat form."""
        return self._flat

    def gvks(self) -> list[tuple[str, str, str]]:
        """The distinct (group, version, kind) this EventSource watches, in order."""
        seen: list[tuple[str, str, str]] = []
        for sel in self.resource_selectors:
            gvk = (sel.group, sel.version, sel.kind)
            if gvk not in seen:
                seen.append(gvk)
        return seen


class EventSource(TypedObject):
    """An EventSource: what counts as an event in a managed cluster."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (V1ALPHA1, V1BETA1)
    KIND: ClassVar[str] = KIND

    api_version: str = Field(default=V1BETA1, alias="apiVersion")
    kind: str = KIND
    spec: EventSourceSpec = Field(default_factory=EventSourceSpec)
    status: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _shape_matches_version(self) -> EventSource:
        if self.spec.is_flat and self.api_version != V1ALPHA1:
            raise ValueError(
                "the flat spec form (group/version/kind/labelFilters/script directly under "
                f"spec) exists only in {V1ALPHA1}; use spec.resourceSelectors"
            )
        return self

    @property
    def is_v1alpha1(self) -> bool:
        return self.api_version == V1ALPHA1

    def normalized(self) -> EventSource:
        """A v1beta1 copy: resourceSelectors with ``evaluate``, no legacy spellings."""
        spec = self.spec.model_copy(deep=True)
        spec._flat = False
        for sel in spec.resource_selectors:
            sel._script_key = False
        return self.model_copy(update={"api_version": V1BETA1, "spec": spec})
