"""How Go values are modelled in Python by the template engine and its functions.

==========================  =========================================================
Go                          Python
==========================  =========================================================
nil (interface)             ``None``
bool                        ``bool``
int64 (JSON integers,       ``int`` (a plain Python ``int`` IS Go ``int64``)
sprig integer results)
int (template literals,     :class:`GoInt` (``int`` subclass, ``go_type = "int"``)
``len``, range indexes)
uint8 (``index "str" 0``)   :class:`GoUint8`
float64                     ``float``
complex128 (``1i``)         ``complex``
string                      ``str`` (bytes that are not UTF-8 are kept as surrogate
                            escapes, ``errors="surrogateescape"``)
[]interface{}               ``list``
map[string]interface{}      ``dict``
[]byte                      ``bytes``
time.Time                   aware ``datetime.datetime``
struct (ObjectReference)    :class:`GoStruct` (``go_fields()``, ``go_type_name``)
==========================  =========================================================

Typed integers: every ``int`` subclass carries a class attribute ``go_type`` naming the Go
type (what ``%T`` and sprig's ``kindOf``/``typeOf`` report). A plain ``int`` has no such
attribute and is ``int64``.

Functions that need the executor (``include``, ``tpl``) set the attribute
``needs_context = True``; the executor then passes a :class:`TemplateContext` as their
first argument (before the template arguments).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

__all__ = [
    "OBJECT_REFERENCE_FIELDS",
    "GoInt",
    "GoInt32",
    "GoStruct",
    "GoUint8",
    "TemplateContext",
    "TypedInt",
    "go_type_of_int",
    "object_reference",
]


class TypedInt(int):
    """An integer whose Go type is not int64; ``go_type`` names it."""

    go_type: ClassVar[str] = "int64"

    def __repr__(self) -> str:
        return f"{self.go_type}({int(self)})"

    def __str__(self) -> str:
        return int.__repr__(self)


class GoInt(TypedInt):
    """Go ``int``: template integer literals, ``len``, range indexes, sprig ``int``."""

    go_type: ClassVar[str] = "int"


class GoUint8(TypedInt):
    """Go ``uint8`` (a byte): what ``index`` returns for a string."""

    go_type: ClassVar[str] = "uint8"


class GoInt32(TypedInt):
    """Go ``int32`` (a rune)."""

    go_type: ClassVar[str] = "int32"


def go_type_of_int(v: int) -> str:
    """The Go type name of an integer value (plain ``int`` is ``int64``)."""
    return getattr(type(v), "go_type", "int64") if not isinstance(v, bool) else "bool"


class GoStruct:
    """A Go struct value: fields in declaration order, accessed by exact Go field name.

    ``%v`` prints ``{v1 v2 ...}`` in field order (gofmt uses :meth:`go_fields`).
    """

    __slots__ = ("_fields", "go_type_name")

    def __init__(self, go_type_name: str, fields: Iterable[tuple[str, Any]]) -> None:
        self.go_type_name = go_type_name
        self._fields: dict[str, Any] = dict(fields)

    def go_fields(self) -> Iterator[tuple[str, Any]]:
        return iter(self._fields.items())

    def has_field(self, name: str) -> bool:
        return name in self._fields

    def field(self, name: str) -> Any:
        return self._fields[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._fields)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GoStruct)
            and other.go_type_name == self.go_type_name
            and other._fields == self._fields
        )

    def __hash__(self) -> int:
        return hash((self.go_type_name, tuple(self._fields)))

    def __repr__(self) -> str:
        return f"GoStruct({self.go_type_name!r}, {self._fields!r})"


#: corev1.ObjectReference fields in Go declaration order, with their JSON names
OBJECT_REFERENCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("Kind", "kind"),
    ("Namespace", "namespace"),
    ("Name", "name"),
    ("UID", "uid"),
    ("APIVersion", "apiVersion"),
    ("ResourceVersion", "resourceVersion"),
    ("FieldPath", "fieldPath"),
)


def object_reference(ref: Mapping[str, Any] | GoStruct) -> GoStruct:
    """A ``corev1.ObjectReference`` struct from ``{apiVersion, kind, namespace, name}``.

    Accepts the JSON field names (``apiVersion``) as well as the Go ones (``APIVersion``);
    absent fields are Go's zero value ``""``.
    """
    if isinstance(ref, GoStruct):
        return ref
    fields = []
    for go_name, json_name in OBJECT_REFERENCE_FIELDS:
        value = ref.get(go_name, ref.get(json_name, ""))
        fields.append((go_name, "" if value is None else str(value)))
    return GoStruct("v1.ObjectReference", fields)


class TemplateContext(Protocol):
    """What a ``needs_context`` function receives: access to the running template set."""

    @property
    def root_data(self) -> Any:
        """The data the render started with (the root template's ``$``); nil is None."""
        ...

    def execute_template(self, name: str, data: Any) -> str:
        """Execute the named template of the set with ``data`` as dot (sprig ``include``)."""
        ...

    def render_text(self, text: str, data: Any) -> str:
        """Parse ``text`` into the set and execute it with ``data`` (``tpl``)."""
        ...
