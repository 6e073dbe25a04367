"""The keys of CPA v7.2.140's config.yaml and the types its Go decoder reads them as.

Pure data and one pure check. ``CONFIG`` is the ``config.Config`` struct as config.yaml spells
it, nested structs, provider-list entries and maps included; ``check_config`` compares a
declared config with it, offline, so a typo (``reqest-retry``) or a value CPA's yaml.v3 cannot
decode (``request-retry: three``, ``debug: "false"``) is refused at load, before any request,
instead of being written into CPA's config.yaml or answered with a 400 at apply.

Types, as yaml.v3 decodes into the Go fields:

* ``STRING``: the text of any scalar (yaml.v3 puts ``8317`` or ``true`` into a string field
  as written); a list or mapping is refused. A ``${env:}``/``${file:}`` reference is a string.
* ``INT``: an integer written without quotes (``"3"`` is a string: CPA refuses it). A decimal
  number is refused too (yaml.v3 would truncate ``2.5`` to 2: never what was meant).
* ``BOOL``: ``true`` or ``false`` without quotes (``"false"`` is a string: CPA refuses it).
  ``yes``/``no``/``on``/``off`` are refused: YAML 1.2 reads them as strings (yaml.v3 alone
  takes them into a bool, the emulator and every other tool read text).
* ``DURATION``: a ``time.Duration``: a Go duration string (``250ms``, ``1m30s``) or an integer
  of nanoseconds. ``DURATION_TEXT``: a string CPA parses as a duration when it loads (422
  otherwise).
* ``null`` (or an empty value) is accepted anywhere: Go leaves the field at its zero value.

A reference (``${env:X}``) always resolves to a string, and the reconciler writes a string
quoted, so one in an integer or boolean field would always be refused by CPA: it is refused
here, naming the reference (never its value).

Unknown keys are refused with the closest known key as a hint, except those matching
``config-policy.allow-unknown-keys`` (for keys of a newer CPA): names or globs, matched
against the dotted path with list indexes left out (``routing.new-thing``,
``gemini-api-key.new-field``, ``x-*``); an allowed key's value is not checked.

Sources: ``reconciler/emulator`` (what the emulator parses), CPA's config.example.yaml
(tests/data/upstream/config.example.yaml), management-api.md section 4.1. The tests cross-check
this table against both.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.model import Path

__all__ = [
    "BOOL",
    "CONFIG",
    "DURATION",
    "DURATION_TEXT",
    "INT",
    "REMOVED_KEYS",
    "STRING",
    "AnyValue",
    "ConfigProblem",
    "ListOf",
    "MapOf",
    "OneOf",
    "Scalar",
    "Struct",
    "ValueType",
    "check_config",
    "dotted",
    "is_go_duration",
    "json_schema",
    "known_paths",
    "unknown_key_patterns",
]


# ---------------------------------------------------------------------------------------------
# The type language


@dataclass(frozen=True)
class Scalar:
    """A Go scalar: ``kind`` is string, int, bool, duration or duration-text."""

    kind: str
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class OneOf:
    """A value CPA reads with its own decoder: a bool, or one of ``words``."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class AnyValue:
    """Anything (plugin settings, payload parameters): not checked."""


@dataclass(frozen=True)
class ListOf:
    item: ValueType


@dataclass(frozen=True)
class MapOf:
    """A mapping with free keys (channel names, header names, plugin ids)."""

    value: ValueType


@dataclass(frozen=True)
class Struct:
    """A Go struct: known keys only, unless ``open`` (free keys beside the typed ones)."""

    fields: Mapping[str, ValueType]
    open: bool = False


ValueType = Scalar | OneOf | AnyValue | ListOf | MapOf | Struct

STRING = Scalar("string")
INT = Scalar("int")
BOOL = Scalar("bool")
DURATION = Scalar("duration")
DURATION_TEXT = Scalar("duration-text")
WEIGHT = Scalar("int", minimum=0, maximum=1_000_000)
NON_NEGATIVE = Scalar("int", minimum=0)
STRINGS = ListOf(STRING)
ANY = AnyValue()


# Not mutated: it runs while the module is imported, before mutmut picks a mutant (the table it
# builds is tested as data).
# pragma: no mutate start
def _struct(*parts: Mapping[str, ValueType], open: bool = False) -> Struct:
    fields: dict[str, ValueType] = {}
    for part in parts:
        fields.update(part)
    return Struct(fields, open)


# pragma: no mutate end


# ---------------------------------------------------------------------------------------------
# CPA v7.2.140's config.Config

_ERROR_RULE = _struct({"status": INT, "match": STRINGS, "match-regexr": STRINGS, "action": STRING})
_MODEL = _struct(
    {
        "name": STRING,
        "alias": STRING,
        "display-name": STRING,
        "max-context-length": INT,
        "force-mapping": BOOL,
        "is-compat": BOOL,
        "image": BOOL,
        "input-modalities": STRINGS,
        "output-modalities": STRINGS,
        "thinking": _struct({"levels": STRINGS}),
    }
)
_HEADERS = MapOf(STRING)
_PROVIDER_KEY: dict[str, ValueType] = {
    "api-key": STRING,
    "priority": INT,
    "weight": WEIGHT,
    "prefix": STRING,
    "base-url": STRING,
    "proxy-url": STRING,
    "headers": _HEADERS,
    "models": ListOf(_MODEL),
    "excluded-models": STRINGS,
    "disable-cooling": BOOL,
    "request-retry": INT,
    "request-scoped-errors": ListOf(_ERROR_RULE),
}
_GEMINI_KEY = _struct(_PROVIDER_KEY)
_CODEX_KEY = _struct(_PROVIDER_KEY, {"websockets": BOOL, "alpha-search": BOOL})
_CLAUDE_KEY = _struct(
    _PROVIDER_KEY,
    {
        "fingerprint-profile": STRING,
        "rebuild-mid-system-message": BOOL,
        "experimental-cch-signing": BOOL,
        "cloak": _struct(
            {
                "mode": STRING,
                "strict-mode": BOOL,
                "sensitive-words": STRINGS,
                "cache-user-id": BOOL,
            }
        ),
    },
)
_VERTEX_KEY = _struct(_PROVIDER_KEY)
_OPENAI_COMPATIBILITY = _struct(
    {
        "name": STRING,
        "priority": INT,
        "disabled": BOOL,
        "prefix": STRING,
        "base-url": STRING,
        "support-prompt-cache-key": BOOL,
        "disable-cooling": BOOL,
        "request-retry": INT,
        "request-scoped-errors": ListOf(_ERROR_RULE),
        "headers": _HEADERS,
        "api-key-entries": ListOf(
            _struct({"api-key": STRING, "weight": WEIGHT, "proxy-url": STRING})
        ),
        "models": ListOf(_MODEL),
    }
)
_PAYLOAD_MODEL = _struct(
    {
        "name": STRING,
        "protocol": STRING,
        "from-protocol": STRING,
        "headers": _HEADERS,
        "match": ListOf(MapOf(ANY)),
        "not-match": ListOf(MapOf(ANY)),
        "exist": STRINGS,
        "not-exist": STRINGS,
    }
)
_PAYLOAD_MODELS = ListOf(_PAYLOAD_MODEL)

CONFIG = _struct(
    {
        "host": STRING,
        "port": INT,
        "tls": _struct({"enable": BOOL, "cert": STRING, "key": STRING}),
        "remote-management": _struct(
            {
                "allow-remote": BOOL,
                "secret-key": STRING,
                "disable-control-panel": BOOL,
                "disable-auto-update-panel": BOOL,
                "panel-github-repository": STRING,
            }
        ),
        "auth-dir": STRING,
        "api-keys": STRINGS,
        "debug": BOOL,
        "pprof": _struct({"enable": BOOL, "addr": STRING}),
        "credential-concurrency": _struct(
            {
                "lifecycle-config-revision": INT,
                "observation-barrier-revision": INT,
                "cpa-heartbeat-timeout": DURATION,
                "cpa-cancel-bound": DURATION,
                "reclaim-grace": DURATION,
                "cleanup-interval": DURATION,
                "release-flush-interval": DURATION,
                "release-max-backoff": DURATION,
                "busy-retry-min": DURATION,
                "busy-retry-max": DURATION,
                "max-limit": INT,
            }
        ),
        "credential-in-flight": _struct(
            {
                "snapshot-interval": DURATION_TEXT,
                "stale-after": DURATION_TEXT,
                "max-part-bytes": NON_NEGATIVE,
                "max-part-count": NON_NEGATIVE,
                "max-revision-bytes": NON_NEGATIVE,
                "max-aggregate-groups": NON_NEGATIVE,
                "max-details": NON_NEGATIVE,
                "max-string-bytes": NON_NEGATIVE,
                "staging-retention": DURATION_TEXT,
            }
        ),
        "plugins": _struct(
            {
                "enabled": BOOL,
                "dir": STRING,
                "store-sources": STRINGS,
                "store-auth": ListOf(
                    _struct(
                        {
                            "match": STRING,
                            "apply-to": STRINGS,
                            "type": STRING,
                            "token-env": STRING,
                        }
                    )
                ),
                # Each plugin defines its own settings beside enabled and priority.
                "configs": MapOf(_struct({"enabled": BOOL, "priority": INT}, open=True)),
            }
        ),
        "commercial-mode": BOOL,
        "logging-to-file": BOOL,
        "logs-max-total-size-mb": INT,
        "error-logs-max-files": INT,
        "usage-statistics-enabled": BOOL,
        "redis-usage-queue-retention-seconds": INT,
        "proxy-url": STRING,
        "force-model-prefix": BOOL,
        "request-log": BOOL,
        "passthrough-headers": BOOL,
        "request-retry": INT,
        "max-retry-credentials": INT,
        "max-retry-interval": INT,
        "disable-cooling": BOOL,
        "save-cooldown-status": BOOL,
        "transient-error-cooldown-seconds": INT,
        "disable-claude-cloak-mode": BOOL,
        "claude-code": _struct({"disable-cloaking-model-list": BOOL}),
        "disable-image-generation": OneOf(("chat", "passthrough")),
        "gpt-image-2-base-model": STRING,
        "video-result-auth-cache-ttl": STRING,
        "auth-auto-refresh-workers": INT,
        "quota-exceeded": _struct(
            {"switch-project": BOOL, "switch-preview-model": BOOL, "antigravity-credits": BOOL}
        ),
        "routing": _struct(
            {"strategy": STRING, "session-affinity": BOOL, "session-affinity-ttl": STRING}
        ),
        "codex": _struct(
            {
                "identity-confuse": BOOL,
                "disable-codex-cloaking": BOOL,
                "stream-bootstrap-buffering": BOOL,
                "optimize-multi-agent-v2": BOOL,
                "live-media-relay": _struct(
                    {
                        "enabled": BOOL,
                        "max-sessions": INT,
                        "disable-private-remote-ips": BOOL,
                        "public-ip": STRING,
                        "udp-port-min": INT,
                        "udp-port-max": INT,
                        "ice-servers": ListOf(
                            _struct({"urls": STRINGS, "username": STRING, "credential": STRING})
                        ),
                    }
                ),
            }
        ),
        "antigravity": _struct({"sensitive-words": STRINGS}),
        "xai": _struct({"inject-x-search": BOOL}),
        "ws-auth": BOOL,
        "nonstream-keepalive-interval": INT,
        "streaming": _struct({"keepalive-seconds": INT, "bootstrap-retries": INT}),
        "antigravity-signature-cache-enabled": BOOL,
        "antigravity-signature-bypass-strict": BOOL,
        "gemini-api-key": ListOf(_GEMINI_KEY),
        "interactions-api-key": ListOf(_GEMINI_KEY),
        "codex-api-key": ListOf(_CODEX_KEY),
        "xai-api-key": ListOf(_CODEX_KEY),
        "claude-api-key": ListOf(_CLAUDE_KEY),
        "vertex-api-key": ListOf(_VERTEX_KEY),
        "openai-compatibility": ListOf(_OPENAI_COMPATIBILITY),
        "claude-header-defaults": _struct(
            {
                "user-agent": STRING,
                "package-version": STRING,
                "runtime-version": STRING,
                "os": STRING,
                "arch": STRING,
                "timeout": STRING,
                "timezone": STRING,
                "stabilize-device-profile": BOOL,
            }
        ),
        "codex-header-defaults": _struct({"user-agent": STRING, "beta-features": STRING}),
        "oauth-excluded-models": MapOf(STRINGS),
        "oauth-model-alias": MapOf(
            ListOf(
                _struct(
                    {
                        "name": STRING,
                        "alias": STRING,
                        "fork": BOOL,
                        "display-name": STRING,
                        "force-mapping": BOOL,
                    }
                )
            )
        ),
        "oauth-request-scoped-errors": MapOf(ListOf(_ERROR_RULE)),
        "payload": _struct(
            {
                "default": ListOf(_struct({"models": _PAYLOAD_MODELS, "params": MapOf(ANY)})),
                "default-raw": ListOf(
                    _struct({"models": _PAYLOAD_MODELS, "params": MapOf(STRING)})
                ),
                "override": ListOf(_struct({"models": _PAYLOAD_MODELS, "params": MapOf(ANY)})),
                "override-raw": ListOf(
                    _struct({"models": _PAYLOAD_MODELS, "params": MapOf(STRING)})
                ),
                "filter": ListOf(_struct({"models": _PAYLOAD_MODELS, "params": STRINGS})),
            }
        ),
    }
)
"""config.yaml of CPA v7.2.140, every key CPA decodes."""

REMOVED_KEYS: Mapping[str, str] = {
    "auth": "removed in CPA v7",
    "ampcode": "removed in CPA v7",
    "amp-upstream-url": "removed in CPA v7",
    "amp-upstream-api-key": "removed in CPA v7",
    "amp-restrict-management-to-localhost": "removed in CPA v7",
    "amp-model-mappings": "removed in CPA v7",
    "generative-language-api-key": "removed in CPA v7: use gemini-api-key",
    "openai-compatibility.api-keys": "removed in CPA v7: use api-key-entries",
}
"""Keys CPA v7 no longer reads (a per-field save deletes them), by dotted path."""


# ---------------------------------------------------------------------------------------------
# The check


@dataclass(frozen=True)
class ConfigProblem:
    """One declared key or value CPA would not take; ``path`` is inside the config."""

    path: Path
    message: str


Written = Callable[[Path], str]
"""The reference as written (``${env:X}``) at a path whose value came from one."""


def check_config(
    config: Mapping[str, Any],
    *,
    allow_unknown: Sequence[str] = (),
    referenced: Collection[Path] = frozenset(),
    written: Written | None = None,
) -> list[ConfigProblem]:
    """Every unknown key and wrongly typed value in ``config``, in document order.

    ``referenced``: the paths whose value came from a ``${env:}``/``${file:}`` reference; a
    message shows such a value only as ``the value of <written(path)>``, never the value.
    """
    checker = _Checker(tuple(allow_unknown), frozenset(referenced), written)
    checker.value(config, CONFIG, ())
    return checker.problems


def unknown_key_patterns(config: Mapping[str, Any]) -> list[str]:
    """For each key in ``config`` this table does not know, the pattern that allows it in
    ``config-policy.allow-unknown-keys`` (its dotted path, glob characters escaped), once: what
    ``export`` writes so that the file it makes from a live config validates."""
    checker = _Checker((), frozenset(), None)
    checker.value(config, CONFIG, ())
    seen: dict[str, None] = {}
    for path in checker.unknown:
        seen.setdefault(_escape_glob(dotted(path)), None)  # pragma: no mutate: None is the default
    return list(seen)


def _escape_glob(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def dotted(path: Path) -> str:
    """``("gemini-api-key", 0, "models", 1, "name")`` as ``gemini-api-key.models.name``."""
    return ".".join(str(part) for part in path if not isinstance(part, int))


@dataclass
class _Checker:
    allow_unknown: tuple[str, ...]
    referenced: frozenset[Path]
    written: Written | None
    problems: list[ConfigProblem] = field(default_factory=list)
    unknown: list[Path] = field(default_factory=list)

    def add(self, path: Path, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def value(self, value: Any, kind: ValueType, path: Path) -> None:
        if value is None or isinstance(kind, AnyValue):
            return
        if isinstance(kind, Scalar):
            self.scalar(value, kind, path)
        elif isinstance(kind, OneOf):
            self.one_of(value, kind, path)
        elif isinstance(kind, ListOf):
            if not isinstance(value, list):
                self.add(path, f"expected a list, got {self.got(path, value)}")
                return
            for index, item in enumerate(value):
                self.value(item, kind.item, (*path, index))
        elif not isinstance(value, Mapping):
            self.add(path, f"expected a mapping, got {self.got(path, value)}")
        elif isinstance(kind, MapOf):
            for key, item in value.items():
                self.value(item, kind.value, (*path, key))
        else:
            self.struct(value, kind, path)

    def struct(self, value: Mapping[Any, Any], kind: Struct, path: Path) -> None:
        for key, item in value.items():
            inner = kind.fields.get(key)
            if inner is not None:
                self.value(item, inner, (*path, key))
            elif not kind.open:
                self.unknown_key(key, kind, (*path, key))

    def unknown_key(self, key: Any, kind: Struct, path: Path) -> None:
        name = dotted(path)
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow_unknown):
            return
        self.unknown.append(path)
        removed = REMOVED_KEYS.get(name)
        if removed is not None:
            self.add(
                path, f"'{key}' is {removed} (CPA deletes it from config.yaml on its next save)"
            )
            return
        close = difflib.get_close_matches(
            str(key),
            list(kind.fields),
            n=1,  # pragma: no mutate: only the best match is shown
            cutoff=0.75,
        )
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.add(
            path,
            f"unknown key{hint}: CPA v7.2.140 does not know it and would ignore it; for a key "
            f"of a newer CPA, add '{name}' to config-policy.allow-unknown-keys",
        )

    def scalar(self, value: Any, kind: Scalar, path: Path) -> None:
        if isinstance(value, Mapping | list):
            got = self.got(path, value)  # pragma: no mutate: a list or mapping: the path is moot
            self.add(path, f"expected {_expected(kind)}, got {got}")
            return
        if kind.kind == "string":  # pragma: no mutate: a shortcut, _scalar_problem accepts it too
            return
        if path in self.referenced and kind.kind in ("int", "bool"):
            self.add(
                path,
                # not mutated: got() shows a referenced scalar by its path, never its value
                f"expected {_expected(kind)}, got {self.got(path, value)}: a reference "  # pragma: no mutate
                "always gives a string, which CPA refuses here; write the value itself",
            )
            return
        problem = _scalar_problem(value, kind)
        if problem is not None:
            self.add(path, problem.format(got=self.got(path, value)))

    def one_of(self, value: Any, kind: OneOf, path: Path) -> None:
        if isinstance(value, bool) or (isinstance(value, str) and value in kind.words):
            return
        words = ", ".join(f'"{word}"' for word in kind.words)
        self.add(path, f"expected true, false or one of {words}, got {self.got(path, value)}")

    def got(self, path: Path, value: Any) -> str:
        if isinstance(value, Mapping):
            return "a mapping"
        if isinstance(value, list):
            return "a list"
        if path in self.referenced:
            return f"the value of {self.written(path) if self.written else 'a reference'}"
        return _shown_plainly(value)


def _scalar_problem(value: Any, kind: Scalar) -> str | None:
    """What is wrong with a scalar ``value`` for ``kind`` (``{got}`` shows it), or None."""
    if kind.kind == "bool":
        if isinstance(value, bool):
            return None
        word = ""  # pragma: no mutate: any text that is not a word below
        if isinstance(value, str):
            word = value.strip().lower()
        if word in ("true", "false"):
            return (
                f"expected true or false, got {{got}}: a quoted {word} is a string, which CPA "
                f"refuses; write {word} without quotes"
            )
        if word in _YAML11_BOOLS:
            meant = "true" if word in ("yes", "on", "y") else "false"
            return (
                f"expected true or false, got {{got}} (YAML 1.2 reads yes, no, on and off as "
                f"strings); write {meant}"
            )
        return "expected true or false, got {got}"
    if kind.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
                hint = f": CPA refuses a quoted number; write {value.strip()} without quotes"
            elif isinstance(value, float):
                hint = ": write a whole number"
            return f"expected an integer, got {{got}}{hint}"
        if kind.minimum is not None and value < kind.minimum:
            return f"must be {kind.minimum} or more, got {{got}} (CPA refuses it)"
        if kind.maximum is not None and value > kind.maximum:
            return f"must be at most {kind.maximum:,}, got {{got}} (CPA refuses it)"
        return None
    if kind.kind == "duration":
        if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and is_go_duration(value)
        ):
            return None
        return "expected a Go duration such as 250ms, 5s or 1m30s, got {got}"
    if kind.kind == "duration-text":
        text = _go_text(value)
        if is_go_duration(text) and not text.startswith("-"):
            return None
        return (
            "expected a Go duration such as 250ms, 5s or 1m30s, got {got} "
            "(CPA refuses the config: invalid duration)"
        )
    return None  # pragma: no cover - every kind is handled above


_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})
_INT_TEXT = re.compile(r"[-+]?\d+")
_DURATION = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")


def is_go_duration(text: str) -> bool:
    """Whether Go's ``time.ParseDuration`` accepts ``text`` (``"0"`` included)."""
    return text in ("0", "+0", "-0") or _DURATION.fullmatch(text) is not None


def _go_text(value: Any) -> str:
    """The text yaml.v3 puts into a Go string field for a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"  # pragma: no mutate: no bool's text is a duration
    return str(value)


def _expected(kind: Scalar) -> str:
    return {
        "string": "a string",
        "int": "an integer",
        "bool": "true or false",
        "duration": "a Go duration",
        "duration-text": "a Go duration",
    }[kind.kind]


def _shown_plainly(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    return repr(value)


# ---------------------------------------------------------------------------------------------
# JSON Schema (for editors)


def json_schema(*, closed: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema of ``CONFIG`` and the definitions it refers to (``#/$defs/<name>``,
    for structs used in several places). ``closed``: unknown keys are refused
    (``additionalProperties: false``); else they are allowed and only known keys are typed."""
    defs: dict[str, Any] = {}
    return _Schema(closed, defs).of(CONFIG), defs


_SHARED: Mapping[int, str] = {
    id(_ERROR_RULE): "ErrorRule",
    id(_MODEL): "Model",
    id(_GEMINI_KEY): "GeminiKey",
    id(_CODEX_KEY): "CodexKey",
    id(_PAYLOAD_MODEL): "PayloadModel",
}
"""Structs used in several places: defined once in the schema."""


@dataclass(frozen=True)
class _Schema:
    closed: bool
    defs: dict[str, Any]

    def of(self, kind: ValueType) -> dict[str, Any]:
        if isinstance(kind, AnyValue):
            return {}
        if isinstance(kind, Scalar):
            if kind.minimum is not None or kind.maximum is not None:
                return _scalar_schema(kind)
            name = "Cpa" + kind.kind.title().replace("-", "")
            self.defs.setdefault(name, _scalar_schema(kind))
            return {"$ref": f"#/$defs/{name}"}
        if isinstance(kind, OneOf):
            return {"type": ["boolean", "string", "null"], "enum": [True, False, *kind.words, None]}
        if isinstance(kind, ListOf):
            return {"type": ["array", "null"], "items": self.of(kind.item)}
        if isinstance(kind, MapOf):
            return {"type": ["object", "null"], "additionalProperties": self.of(kind.value)}
        shared = _SHARED.get(id(kind))
        if shared is None:
            return self.struct(kind)
        name = f"Cpa{shared}{'Strict' if self.closed else ''}"
        if name not in self.defs:
            self.defs[name] = {}  # pragma: no mutate: a placeholder while it is built
            self.defs[name] = self.struct(kind)
        return {"$ref": f"#/$defs/{name}"}

    def struct(self, kind: Struct) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": ["object", "null"],
            "properties": {key: self.of(inner) for key, inner in kind.fields.items()},
        }
        if self.closed and not kind.open:
            schema["additionalProperties"] = False
        return schema


def _scalar_schema(kind: Scalar) -> dict[str, Any]:
    if kind.kind == "string":
        return {"type": ["string", "number", "boolean", "null"]}
    if kind.kind == "bool":
        return {"type": ["boolean", "null"]}
    if kind.kind == "int":
        schema: dict[str, Any] = {"type": ["integer", "null"]}
        if kind.minimum is not None:
            schema["minimum"] = kind.minimum
        if kind.maximum is not None:
            schema["maximum"] = kind.maximum
        return schema
    pattern = {"pattern": f"^(?:[-+]?0|{_DURATION.pattern})$"}
    if kind.kind == "duration":
        return {"anyOf": [{"type": "string", **pattern}, {"type": ["integer", "null"]}]}
    return {"anyOf": [{"type": "string", **pattern}, {"type": "null"}]}


def known_paths() -> Iterable[tuple[str, ValueType]]:
    """Every (dotted path, type) the table knows, outermost first (lists and maps open a
    level without a name: ``gemini-api-key.models.name``, ``plugins.configs.enabled``)."""
    yield from _walk(CONFIG, ())


def _walk(kind: ValueType, prefix: tuple[str, ...]) -> Iterable[tuple[str, ValueType]]:
    if prefix:
        yield ".".join(prefix), kind
    if isinstance(kind, ListOf | MapOf):
        inner = kind.item if isinstance(kind, ListOf) else kind.value
        yield from (item for item in _walk(inner, prefix) if item[0] != ".".join(prefix))
    elif isinstance(kind, Struct):
        for key, inner in kind.fields.items():
            yield from _walk(inner, (*prefix, key))
