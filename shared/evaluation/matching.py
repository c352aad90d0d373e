"""The cheap part of a resourceSelector: group/version/kind, namespace, name, labels.

Label operations (sveltos-semantics.md §1.4), compiled into tuples so that the pre-filter
runs without attribute lookups:

=============  =============  ===========================
op             label absent   label present with value v
=============  =============  ===========================
Equal          no match       v == value
Different      match          v != value
Has            no match       match (also for "")
DoesNotHave    match          no match
=============  =============  ===========================

``selector`` (metav1.LabelSelector) is ANDed with the label filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.api.eventsource import ResourceSelector
from shared.api.selectors import LabelSelector
from shared.api.vocabulary import ObjectKey, join_api_version

EQUAL, DIFFERENT, HAS, DOES_NOT_HAVE = 0, 1, 2, 3
_OPS = {"Equal": EQUAL, "Different": DIFFERENT, "Has": HAS, "DoesNotHave": DOES_NOT_HAVE}


#: ``(apiVersion, kind, namespace, name)``: what makes two objects the same object
identity = ObjectKey.of


def labels_match(filters: tuple[tuple[int, str, str], ...], labels: Mapping[str, Any]) -> bool:
    """All compiled label filters hold for ``labels`` (AND)."""
    for op, key, value in filters:
        if op == EQUAL:
            if labels.get(key) != value:
                return False
        elif op == DIFFERENT:
            if key in labels and labels[key] == value:
                return False
        elif op == HAS:
            if key not in labels:
                return False
        elif key in labels:
            return False
    return True


@dataclass(frozen=True, slots=True)
class SelectorFilter:
    """One resourceSelector's pre-filter, compiled."""

    index: int
    api_version: str
    kind: str
    namespace: str
    name: str
    filters: tuple[tuple[int, str, str], ...]
    selector: LabelSelector | None

    @classmethod
    def compile(cls, index: int, sel: ResourceSelector) -> SelectorFilter:
        filters = tuple((_OPS[f.operation], f.key, f.value) for f in sel.label_filters)
        selector = (
            sel.selector if sel.selector is not None and not sel.selector.is_empty() else None
        )
        return cls(
            index=index,
            api_version=join_api_version(sel.group, sel.version),
            kind=sel.kind,
            namespace=sel.namespace,
            name=sel.name,
            filters=filters,
            selector=selector,
        )

    def accepts(self, namespace: str, name: str, labels: Mapping[str, Any]) -> bool:
        """namespace, name, labelFilters and selector accept the object (gvk checked by caller)."""
        if self.namespace and namespace != self.namespace:
            return False
        if self.name and name != self.name:
            return False
        if self.filters and not labels_match(self.filters, labels):
            return False
        return self.selector is None or self.selector.matches(labels)
