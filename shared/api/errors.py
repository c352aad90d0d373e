"""Errors raised by the API models and the definition loader."""

from __future__ import annotations

from shared.errors import InvalidInput


class InvalidSelector(InvalidInput, ValueError):
    """A label selector string or structure is not valid.

    Also a ``ValueError`` so that raising it inside a pydantic validator becomes a
    validation error carrying the field path.
    """

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"invalid selector {text!r}: {reason}")


class ImmutableFieldError(InvalidInput, ValueError):
    """An update changed a field that cannot change once set (e.g. ``spec.oneForEvent``)."""

    def __init__(self, kind: str, name: str, field: str, old: object, new: object) -> None:
        self.kind = kind
        self.name = name
        self.field = field
        self.old = old
        self.new = new
        super().__init__(
            f"{kind}/{name}: {field}: field is immutable (was {old!r}, got {new!r}); "
            "delete and re-create the object to change it"
        )


class DefinitionError(InvalidInput):
    """A definition file (or one object in it) is not valid.

    ``str()`` names the file, the object (kind/name and document index) and the field path,
    followed by a short reason, e.g.
    ``es.yaml: EventSource/foo (document 1): spec.resourceSelectors[0].kind: field required``.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "<string>",
        kind: str = "",
        name: str = "",
        index: int | None = None,
        field: str = "",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.kind = kind
        self.name = name
        self.index = index
        self.field = field
        self.line = line
        self.column = column
        super().__init__(self.format())

    @property
    def object_label(self) -> str:
        """``Kind/name`` (or what is known of it), plus ``(document N)`` when known."""
        doc = f"document {self.index + 1}" if self.index is not None else ""
        if not self.kind and not self.name:
            return doc or "?/?"
        ident = f"{self.kind or '?'}/{self.name or '?'}"
        return f"{ident} ({doc})" if doc else ident

    @property
    def location(self) -> str:
        loc = self.source
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return loc

    def __str__(self) -> str:
        return self.format()

    def format(self) -> str:
        parts = [self.location]
        if self.kind or self.name or self.index is not None:
            parts.append(self.object_label)
        if self.field:
            parts.append(self.field)
        parts.append(self.reason)
        return ": ".join(parts)


class DefinitionErrors(DefinitionError):
    """Several problems found in one file; ``errors`` holds each one.

    A DefinitionError itself (its attributes are those of the first problem), so callers
    catching DefinitionError see it; ``str()`` lists every problem, one per line.
    """

    def __init__(self, errors: list[DefinitionError]) -> None:
        if not errors:
            raise ValueError("DefinitionErrors needs at least one error")
        self.errors = list(errors)
        first = errors[0]
        super().__init__(
            first.reason,
            source=first.source,
            kind=first.kind,
            name=first.name,
            index=first.index,
            field=first.field,
            line=first.line,
            column=first.column,
        )

    def format(self) -> str:
        return "\n".join(e.format() for e in getattr(self, "errors", []))
