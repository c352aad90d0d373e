"""Protobuf schemas of the kinds the fleet reads and writes in protobuf.

Field numbers and names from k8s.io/api ``core/v1/generated.proto`` and
k8s.io/apimachinery ``pkg/apis/meta/v1/generated.proto`` (proto2). ``presence=True`` marks
the fields that are pointers in Go (``*bool``, ``*int64``, ``*Time``, ...): their zero
value is meaningful and kept; every other scalar is ``omitempty``.

The kinds (:data:`KINDS`): Secret, SecretList, ConfigMap, ConfigMapList (core/v1),
DeleteOptions and Status (meta/v1, served in every group version).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.fleet import wire

# field kinds: how a value is written and what it is in JSON
STRING = "string"
BYTES = "bytes"  # base64 in JSON
BOOL = "bool"
INT = "int"  # int32 / int64 varint
MESSAGE = "message"
TIME = "time"  # metav1.Time {1: seconds, 2: nanos}; RFC 3339 in JSON
FIELDS_V1 = "fieldsV1"  # metav1.FieldsV1 {1: Raw (JSON bytes)}; the JSON document itself
STRING_MAP = "map<string,string>"
BYTES_MAP = "map<string,bytes>"  # values base64 in JSON


@dataclass(frozen=True)
class Field:
    number: int
    name: str  # the JSON name
    kind: str = STRING
    message: Message | None = None
    repeated: bool = False
    presence: bool = False  # a Go pointer: a present zero value is kept

    @property
    def wire_type(self) -> int:
        return wire.VARINT if self.kind in (INT, BOOL) else wire.LEN


@dataclass(frozen=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    by_number: dict[int, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.fields, key=lambda f: f.number))
        object.__setattr__(self, "fields", ordered)
        object.__setattr__(self, "by_number", {f.number: f for f in ordered})


def _msg(name: str, *fields: Field) -> Message:
    return Message(name, fields)


def _sub(number: int, name: str, message: Message, **kw: bool) -> Field:
    return Field(number, name, MESSAGE, message, **kw)


# -- meta/v1 ---------------------------------------------------------------------------------

OWNER_REFERENCE = _msg(
    "OwnerReference",
    Field(1, "kind"),
    Field(3, "name"),
    Field(4, "uid"),
    Field(5, "apiVersion"),
    Field(6, "controller", BOOL, presence=True),
    Field(7, "blockOwnerDeletion", BOOL, presence=True),
)

MANAGED_FIELDS_ENTRY = _msg(
    "ManagedFieldsEntry",
    Field(1, "manager"),
    Field(2, "operation"),
    Field(3, "apiVersion"),
    Field(4, "time", TIME, presence=True),
    Field(6, "fieldsType"),
    Field(7, "fieldsV1", FIELDS_V1, presence=True),
    Field(8, "subresource"),
)

OBJECT_META = _msg(
    "ObjectMeta",
    Field(1, "name"),
    Field(2, "generateName"),
    Field(3, "namespace"),
    Field(4, "selfLink"),
    Field(5, "uid"),
    Field(6, "resourceVersion"),
    Field(7, "generation", INT),
    Field(8, "creationTimestamp", TIME),
    Field(9, "deletionTimestamp", TIME, presence=True),
    Field(10, "deletionGracePeriodSeconds", INT, presence=True),
    Field(11, "labels", STRING_MAP),
    Field(12, "annotations", STRING_MAP),
    _sub(13, "ownerReferences", OWNER_REFERENCE, repeated=True),
    Field(14, "finalizers", repeated=True),
    _sub(17, "managedFields", MANAGED_FIELDS_ENTRY, repeated=True),
)

LIST_META = _msg(
    "ListMeta",
    Field(1, "selfLink"),
    Field(2, "resourceVersion"),
    Field(3, "continue"),
    Field(4, "remainingItemCount", INT, presence=True),
    _sub(5, "shardInfo", _msg("ShardInfo", Field(1, "selector")), presence=True),
)

PRECONDITIONS = _msg(
    "Preconditions",
    Field(1, "uid", presence=True),
    Field(2, "resourceVersion", presence=True),
)

DELETE_OPTIONS = _msg(
    "DeleteOptions",
    Field(1, "gracePeriodSeconds", INT, presence=True),
    _sub(2, "preconditions", PRECONDITIONS, presence=True),
    Field(3, "orphanDependents", BOOL, presence=True),
    Field(4, "propagationPolicy", presence=True),
    Field(5, "dryRun", repeated=True),
    Field(6, "ignoreStoreReadErrorWithClusterBreakingPotential", BOOL, presence=True),
)

STATUS_CAUSE = _msg("StatusCause", Field(1, "reason"), Field(2, "message"), Field(3, "field"))

STATUS_DETAILS = _msg(
    "StatusDetails",
    Field(1, "name"),
    Field(2, "group"),
    Field(3, "kind"),
    _sub(4, "causes", STATUS_CAUSE, repeated=True),
    Field(5, "retryAfterSeconds", INT),
    Field(6, "uid"),
)

STATUS = _msg(
    "Status",
    _sub(1, "metadata", LIST_META),
    Field(2, "status"),
    Field(3, "message"),
    Field(4, "reason"),
    _sub(5, "details", STATUS_DETAILS, presence=True),
    Field(6, "code", INT),
)

# -- core/v1 ---------------------------------------------------------------------------------

SECRET = _msg(
    "Secret",
    _sub(1, "metadata", OBJECT_META),
    Field(2, "data", BYTES_MAP),
    Field(3, "type"),
    Field(4, "stringData", STRING_MAP),
    Field(5, "immutable", BOOL, presence=True),
)

CONFIG_MAP = _msg(
    "ConfigMap",
    _sub(1, "metadata", OBJECT_META),
    Field(2, "data", STRING_MAP),
    Field(3, "binaryData", BYTES_MAP),
    Field(4, "immutable", BOOL, presence=True),
)


def _list(item: Message) -> Message:
    return _msg(
        f"{item.name}List", _sub(1, "metadata", LIST_META), _sub(2, "items", item, repeated=True)
    )


SECRET_LIST = _list(SECRET)
CONFIG_MAP_LIST = _list(CONFIG_MAP)

#: (apiVersion, kind) -> schema: the core/v1 kinds
CORE_V1: dict[tuple[str, str], Message] = {
    ("v1", m.name): m for m in (SECRET, SECRET_LIST, CONFIG_MAP, CONFIG_MAP_LIST)
}
#: kinds of meta/v1 that every group version serves (``v1``, ``apps/v1``, ``meta.k8s.io/v1``)
EVERY_VERSION: dict[str, Message] = {m.name: m for m in (DELETE_OPTIONS, STATUS)}


def lookup(api_version: str, kind: str) -> Message | None:
    """The schema of ``kind`` in ``api_version``; None when the fleet has none."""
    return CORE_V1.get((api_version, kind)) or EVERY_VERSION.get(kind)
