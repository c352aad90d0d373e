"""The Python half of Lua's ``json`` module: ``decode``, ``encode``, ``fromYAML``, ``toYAML``.

They run in Python, outside the count hook, so each is bounded on its own:

* inputs of ``decode``/``fromYAML``: at most ``max_input`` bytes (one C call of ``json.loads``
  holds the interpreter for its whole duration), documents of at most
  :data:`MAX_DECODED_VALUES` values, no YAML aliases (a "billion laughs" document would
  expand exponentially on conversion);
* what ``encode``/``toYAML`` are given was walked in Lua first (depth, values counted as the
  encoder meets them, bytes: ``encode_check`` of :mod:`~shared.evaluation.guards`); the
  Python walk counts again and stops at the same limits;
* the evaluation's CPU budget: YAML is parsed and emitted node by node in Python, and every
  node, like every 1,000 values walked, looks at ``over_time`` (the sandbox's budget of the
  current run) and stops the helper with "time budget exceeded" -- the script itself is then
  stopped by the next hook.

YAML uses libyaml's parser and emitter when PyYAML has them (the same documents, about four
times faster). Every function returns ``(value, None)`` or ``(None, message)`` and never
raises: gopher-lua's convention (``nil, err`` on bad input).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import lupa.lua51 as lua51
import yaml

#: most values (maps, lists and scalars) a json.decode / json.fromYAML result may hold
MAX_DECODED_VALUES = 100_000

_CHECK_EVERY = 1000


class _OverTime(ValueError):
    def __init__(self) -> None:
        super().__init__("time budget exceeded")


def _check_values(data: Any, limit: int = MAX_DECODED_VALUES) -> None:
    """Raise ValueError when ``data`` holds more than ``limit`` values (stops early)."""
    count = 0
    stack = [data]
    while stack:
        value = stack.pop()
        count += 1
        if isinstance(value, dict | list):
            count += len(value)
            if count > limit:
                break
            items = value.values() if isinstance(value, dict) else value
            stack.extend(v for v in items if isinstance(v, dict | list))
    if count > limit:
        raise ValueError(f"the document holds more than {limit} values")


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _loader(over_time: Callable[[], bool]) -> Any:
    """A safe loader that refuses aliases and stops at the time budget.

    An alias is the same node met a second time while constructing (libyaml's composer
    hands out the anchored node again), which the constructor would otherwise share."""

    class Loader(_BaseLoader):  # type: ignore[misc]
        nodes = 0

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            if node in self.constructed_objects or node in self.recursive_objects:
                raise yaml.YAMLError("YAML aliases (*name) are not supported")
            self.nodes += 1
            if self.nodes % 64 == 0 and over_time():
                raise _OverTime()
            return super().construct_object(node, deep)

    return Loader


def _dumper(over_time: Callable[[], bool]) -> Any:
    class Dumper(_BaseDumper):  # type: ignore[misc]
        nodes = 0

        def represent_data(self, data: Any) -> Any:
            self.nodes += 1
            if self.nodes % 64 == 0 and over_time():
                raise _OverTime()
            return super().represent_data(data)

    return Dumper


class _Encoder:
    """A Lua value to JSON-able data, with the gopher-lua json rules (empty table is [])."""

    def __init__(self, over_time: Callable[[], bool], max_values: int) -> None:
        self.over_time = over_time
        self.max_values = max_values
        self.count = 0

    def value(self, value: Any, depth: int = 0) -> Any:
        if depth > 100:
            raise ValueError("nested too deeply (or a cycle)")
        self.count += 1
        if self.count % _CHECK_EVERY == 0:
            if self.count > self.max_values:
                raise ValueError(f"the value holds more than {self.max_values} values")
            if self.over_time():
                raise _OverTime()
        kind = lua51.lua_type(value)
        if kind is None:
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
                return int(value)
            return value
        if kind != "table":
            raise ValueError(f"cannot encode a Lua {kind}")
        keys = list(value.keys())
        if not keys:
            return []
        if all(isinstance(k, int | float) and not isinstance(k, bool) for k in keys):
            ints = sorted(int(k) for k in keys)
            if ints != list(range(1, len(ints) + 1)) or any(int(k) != k for k in keys):
                raise ValueError("sparse array")
            return [self.value(value[i], depth + 1) for i in ints]
        if all(isinstance(k, str) for k in keys):
            return {k: self.value(value[k], depth + 1) for k in keys}
        raise ValueError("table has mixed (string and number) keys")


class Codecs:
    """The Python half of Lua's ``json`` module, bound to one runtime's ``table_from`` and the
    time budget of its current run."""

    def __init__(
        self,
        to_lua: Callable[[Any], Any],
        max_input: int,
        over_time: Callable[[], bool] = lambda: False,
        max_values: int = MAX_DECODED_VALUES,
        max_output: int = 4 * 1024 * 1024,
    ) -> None:
        self._to_lua = to_lua
        self._max_input = max_input
        self._over_time = over_time
        self._max_values = max_values
        self._max_output = max_output
        self._loader = _loader(over_time)
        self._dumper = _dumper(over_time)

    def _check_size(self, text: Any, fname: str) -> None:
        if isinstance(text, str | bytes) and len(text) > self._max_input:
            raise ValueError(
                f"input of {len(text)} bytes exceeds the {self._max_input}-byte limit of {fname}"
            )

    def _check_output(self, text: str, fname: str) -> str:
        if len(text) > self._max_output:
            raise ValueError(f"the result exceeds {self._max_output} bytes")
        return text

    def json_decode(self, text: Any) -> tuple[Any, str | None]:
        try:
            self._check_size(text, "json.decode")
            data = json.loads(text)
            _check_values(data)
            return self._to_lua(data), None
        except Exception as exc:
            return None, f"json.decode: {exc}"

    def json_encode(self, value: Any) -> tuple[str | None, str | None]:
        try:
            data = _Encoder(self._over_time, self._max_values).value(value)
            text = json.dumps(data, separators=(",", ":"), allow_nan=False, sort_keys=True)
            return self._check_output(text, "json.encode"), None
        except Exception as exc:
            return None, f"json.encode: {exc}"

    def yaml_decode(self, text: Any) -> tuple[Any, str | None]:
        try:
            self._check_size(text, "json.fromYAML")
            data = yaml.load(text, Loader=self._loader)
            _check_values(data)
            return self._to_lua(data), None
        except Exception as exc:
            return None, f"json.fromYAML: {exc}"

    def yaml_encode(self, value: Any) -> tuple[str | None, str | None]:
        try:
            data = _Encoder(self._over_time, self._max_values).value(value)
            text = yaml.dump(data, Dumper=self._dumper, sort_keys=True)
            return self._check_output(text, "json.toYAML"), None
        except Exception as exc:
            return None, f"json.toYAML: {exc}"
