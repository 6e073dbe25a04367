"""What ``PUT /config.yaml`` rejects: yaml.v3 type errors (400) and failed validation (422).

Owns the schema of the known config keys as Go types (so ``port: "x"`` fails like
``cannot unmarshal !!str `x` into int``) and the few checks ``LoadConfig`` really makes:
credential weights and the ``credential-in-flight`` block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.emulator.gotime import parse_duration

_STR, _INT, _BOOL, _STRS = "string", "int", "bool", "[]string"
_PROVIDER_LISTS = {
    "gemini-api-key": "[]config.GeminiKey",
    "interactions-api-key": "[]config.GeminiKey",
    "claude-api-key": "[]config.ClaudeKey",
    "codex-api-key": "[]config.CodexKey",
    "xai-api-key": "[]config.CodexKey",
    "vertex-api-key": "[]config.VertexCompatKey",
    "openai-compatibility": "[]config.OpenAICompatibility",
}
_STRUCTS: dict[str, tuple[str, dict[str, Any]]] = {
    "tls": ("config.TLSConfig", {"enable": _BOOL, "cert": _STR, "key": _STR}),
    "remote-management": (
        "config.RemoteManagement",
        {
            "allow-remote": _BOOL,
            "secret-key": _STR,
            "disable-control-panel": _BOOL,
            "disable-auto-update-panel": _BOOL,
            "panel-github-repository": _STR,
        },
    ),
    "pprof": ("config.PprofConfig", {"enable": _BOOL, "addr": _STR}),
    "streaming": (
        "config.StreamingConfig",
        {"keepalive-seconds": _INT, "bootstrap-retries": _INT},
    ),
    "quota-exceeded": (
        "config.QuotaExceeded",
        {"switch-project": _BOOL, "switch-preview-model": _BOOL, "antigravity-credits": _BOOL},
    ),
    "routing": (
        "config.RoutingConfig",
        {"strategy": _STR, "session-affinity": _BOOL, "session-affinity-ttl": _STR},
    ),
    "plugins": ("config.PluginsConfig", {"enabled": _BOOL, "dir": _STR}),
    "claude-code": ("config.ClaudeCodeConfig", {"disable-cloaking-model-list": _BOOL}),
}
_SCALARS = {
    "host": _STR,
    "port": _INT,
    "auth-dir": _STR,
    "api-keys": _STRS,
    "debug": _BOOL,
    "commercial-mode": _BOOL,
    "logging-to-file": _BOOL,
    "logs-max-total-size-mb": _INT,
    "error-logs-max-files": _INT,
    "usage-statistics-enabled": _BOOL,
    "redis-usage-queue-retention-seconds": _INT,
    "proxy-url": _STR,
    "force-model-prefix": _BOOL,
    "request-log": _BOOL,
    "passthrough-headers": _BOOL,
    "nonstream-keepalive-interval": _INT,
    "disable-cooling": _BOOL,
    "save-cooldown-status": _BOOL,
    "transient-error-cooldown-seconds": _INT,
    "auth-auto-refresh-workers": _INT,
    "request-retry": _INT,
    "max-retry-credentials": _INT,
    "max-retry-interval": _INT,
    "ws-auth": _BOOL,
    "disable-claude-cloak-mode": _BOOL,
}
_IN_FLIGHT_DURATIONS = ("snapshot-interval", "stale-after", "staging-retention")
_IN_FLIGHT_INTS = (
    "max-part-bytes",
    "max-part-count",
    "max-revision-bytes",
    "max-aggregate-groups",
    "max-details",
    "max-string-bytes",
)
MAX_WEIGHT = 1_000_000


class InvalidConfig(Exception):
    """``LoadConfig`` would fail: the server answers 422 ``invalid_config``."""


def type_errors(document: Any) -> list[str]:
    """yaml.v3 ``unmarshal errors`` lines for a parsed round-trip document."""
    if document is None:
        return []
    if not isinstance(document, Mapping):
        return [_terror(document, 1, "config.Config")]
    errors: list[str] = []
    for key, value in document.items():
        line = _line_of(document, key)
        if key in _SCALARS:
            errors.extend(_check_value(value, line, _SCALARS[key]))
        elif key in _STRUCTS:
            errors.extend(_check_struct(value, line, *_STRUCTS[key]))
        elif key in _PROVIDER_LISTS and value is not None and not isinstance(value, list):
            errors.append(_terror(value, line, _PROVIDER_LISTS[key]))
        elif key in _PROVIDER_LISTS and value is not None:
            errors.extend(_entry_list_errors(value))
    return errors


def _entry_list_errors(entries: list[Any]) -> list[str]:
    """A provider entry's ``api-key-entries`` that is not a list (yaml.v3 refuses it)."""
    errors: list[str] = []
    for entry in entries:
        if isinstance(entry, Mapping):
            items = entry.get("api-key-entries")
            if items is not None and not isinstance(items, list):
                line = _line_of(entry, "api-key-entries")
                errors.append(_terror(items, line, "[]config.OpenAICompatibilityAPIKey"))
    return errors


def validate(config: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidConfig` for what ``LoadConfigOptional`` rejects (plain data)."""
    for key in _PROVIDER_LISTS:
        for index, entry in enumerate(config.get(key) or []):
            if isinstance(entry, Mapping):
                _check_weight(entry.get("weight"), f"{key}[{index}].weight")
                items = entry.get("api-key-entries")
                for sub, item in enumerate(items if isinstance(items, list) else []):
                    if isinstance(item, Mapping):
                        where = f"{key}[{index}].api-key-entries[{sub}].weight"
                        _check_weight(item.get("weight"), where)
    _check_in_flight(config.get("credential-in-flight"))


def _check_struct(value: Any, line: int, go_type: str, fields: dict[str, Any]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [_terror(value, line, go_type)]
    errors: list[str] = []
    for key, item in value.items():
        if key in fields:
            errors.extend(_check_value(item, _line_of(value, key), fields[key]))
    return errors


def _check_value(value: Any, line: int, go_type: str) -> list[str]:
    if value is None:
        return []
    if go_type == _STRS:
        if not isinstance(value, list):
            return [_terror(value, line, go_type)]
        return [err for item in value for err in _check_value(item, line, _STR)]
    ok = {
        _STR: not isinstance(value, Mapping | list),
        _INT: isinstance(value, int) and not isinstance(value, bool),
        _BOOL: isinstance(value, bool),
    }[go_type]
    return [] if ok else [_terror(value, line, go_type)]


def _terror(value: Any, line: int, go_type: str) -> str:
    tag = _tag(value)
    if tag in ("!!map", "!!seq"):
        return f"line {line}: cannot unmarshal {tag} into {go_type}"
    text = _scalar_text(value)
    shown = text if len(text) <= 10 else text[:7] + "..."
    return f"line {line}: cannot unmarshal {tag} `{shown}` into {go_type}"


def _tag(value: Any) -> str:
    if isinstance(value, Mapping):
        return "!!map"
    if isinstance(value, list):
        return "!!seq"
    if isinstance(value, bool):
        return "!!bool"
    if isinstance(value, int):
        return "!!int"
    if isinstance(value, float):
        return "!!float"
    return "!!str"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _line_of(container: Any, key: Any) -> int:
    try:
        return int(container.lc.value(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return 1


def _check_weight(value: Any, where: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfig(f"{where}: weight must be an integer")
    if value < 0 or value > MAX_WEIGHT:
        raise InvalidConfig(f"{where}: weight must be between 0 and {MAX_WEIGHT}")


def _check_in_flight(block: Any) -> None:
    if block is None:
        return
    if not isinstance(block, Mapping):
        raise InvalidConfig("credential-in-flight: must be a mapping")
    for key in _IN_FLIGHT_DURATIONS:
        if key in block and block[key] is not None:
            try:
                if parse_duration(str(block[key])) < 0:
                    raise ValueError
            except ValueError:
                raise InvalidConfig(
                    f"credential-in-flight.{key}: invalid duration {block[key]!r}"
                ) from None
    for key in _IN_FLIGHT_INTS:
        value = block.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise InvalidConfig(f"credential-in-flight.{key}: must be a non-negative integer")
