"""The runtime config JSON of ``GET /config``.

Owns the mapping from the loaded config.yaml (plain data) to the JSON the server prints: the
``Config`` struct in field order with defaults filled in, ``host``/``port``/``auth-dir``/
``remote-management`` left out, durations of ``credential-concurrency`` in nanoseconds, and
map-typed values sorted like Go maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.emulator.defaults import (
    DURATION_NS_KEYS,
    ROUTING_STRATEGIES,
    RUNTIME_OPTIONAL_KEYS,
    RUNTIME_TEMPLATE,
)
from reconciler.emulator.gojson import Struct
from reconciler.emulator.gotime import parse_duration

_MAP_VALUED = frozenset({"configs", "headers"})


def runtime_config(config: Mapping[str, Any]) -> Struct:
    """``GET /config`` for a loaded config (plain data from config.yaml)."""
    items: list[tuple[str, Any]] = []
    for key, default in RUNTIME_TEMPLATE.items():
        items.append((key, _overlay(key, default, config.get(key))))
    for key in RUNTIME_OPTIONAL_KEYS:
        value = config.get(key)
        if value not in (None, "", {}, []):
            items.append((key, value))
    struct = Struct(items)
    _normalise(struct)
    return struct


def _overlay(key: str, default: Any, value: Any) -> Any:
    if isinstance(default, dict):
        if key in _MAP_VALUED:
            return dict(value) if isinstance(value, Mapping) else {}
        given = value if isinstance(value, Mapping) else {}
        items = [
            (sub, _overlay(sub, sub_default, given.get(sub)))
            for sub, sub_default in default.items()
        ]
        items += [(sub, sub_value) for sub, sub_value in given.items() if sub not in default]
        return Struct(items)
    if value is None:
        return default
    if key in DURATION_NS_KEYS and isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            return default
    if isinstance(default, bool) and not isinstance(value, bool):
        return default
    if isinstance(default, int) and not isinstance(default, bool):
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    return value


def _normalise(struct: Struct) -> None:
    """Apply the in-memory normalisations the server shows (routing strategy, clamps)."""
    for index, (key, value) in enumerate(struct.items):
        if key == "routing" and isinstance(value, Struct):
            for sub_index, (sub, sub_value) in enumerate(value.items):
                if sub == "strategy" and isinstance(sub_value, str):
                    norm = ROUTING_STRATEGIES.get(sub_value.strip().lower(), sub_value)
                    value.items[sub_index] = (sub, norm)
        elif key == "max-retry-credentials" and isinstance(value, int) and value < 0:
            struct.items[index] = (key, 0)
        elif key == "error-logs-max-files" and isinstance(value, int) and value < 0:
            struct.items[index] = (key, 10)
