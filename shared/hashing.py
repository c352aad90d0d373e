"""Content hashes and deterministic names.

- :func:`policy_hash` is Sveltos' ``projectsveltos.io/hash``: ``sha256:`` + the hex SHA-256 of
  Go's ``json.Marshal`` of the object (compact, map keys sorted, ``<``, ``>``, ``&``, U+2028
  and U+2029 escaped), computed with any existing hash annotation removed.
- :func:`stable_name` turns identifying labels into a DNS-1123 name (Sveltos draws these at
  random; Ripple derives them, so they can be referenced and survive restarts).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

HASH_ANNOTATION = "projectsveltos.io/hash"
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def go_json(value: Any) -> str:
    """Go ``encoding/json`` output for plain data: compact, sorted keys, HTML-safe escapes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def policy_hash(obj: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the object without its own hash annotation."""
    clean = copy.deepcopy(dict(obj))
    annotations = (clean.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and HASH_ANNOTATION in annotations:
        del annotations[HASH_ANNOTATION]
        if not annotations:
            del clean["metadata"]["annotations"]
    return "sha256:" + hashlib.sha256(go_json(clean).encode()).hexdigest()


def stable_name(prefix: str, identity: Mapping[str, str], length: int = 20) -> str:
    """``<prefix><length base-36 chars>`` derived from the sorted identity pairs."""
    digest = hashlib.sha256(go_json(dict(sorted(identity.items()))).encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 36)
        chars.append(_ALPHABET[rest])
    return prefix + "".join(chars)
