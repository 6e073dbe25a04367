"""``${env:NAME}`` and ``${file:PATH}`` references: parsing them and resolving them in data.

This module owns the reference syntax and its resolution. A reference may stand wherever a
string value does, as the whole value or inside a larger string, several per string:

* ``${env:NAME}``: the value of the environment variable ``NAME`` (an error when it is unset);
* ``${file:PATH}``: the text of the file ``PATH``, with one trailing newline stripped;
* ``$${``: a literal ``${``.

Mapping keys are never resolved. The environment and the file reader are parameters: nothing
here reads ``os.environ`` or the disk, so the caller decides where values come from.
``resolve`` returns the new data and the paths whose value came from a reference; error messages
name the file, line and path and show the reference as written, never its value.

Bounds: the caller's reader bounds each file (``reconciler.local_files``); here, all the strings
built from references together hold at most ``MAX_RESOLVED_TEXT`` characters (a 1 MiB file
named by 10,000 references would otherwise make 10 GiB of strings).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.desired.yaml_io import MAX_TEXT, YamlDocument, YamlPath, format_path
from reconciler.errors import ReferenceError_

__all__ = [
    "ESCAPE",
    "MAX_RESOLVED_TEXT",
    "FileReader",
    "Reference",
    "ReferenceSyntaxError",
    "Resolution",
    "escape",
    "parse_template",
    "resolve",
]

ESCAPE = "$${"
"""Written in a string to mean a literal ``${``."""

FileReader = Callable[[str], str]
"""Returns the text of the file named by ``${file:PATH}`` (PATH as written); raises OSError
or UnicodeDecodeError when it cannot."""

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HINT = "use ${env:NAME} or ${file:PATH}; write $${ for a literal ${"

MAX_RESOLVED_TEXT = MAX_TEXT
"""Most characters all the strings that hold a reference may add up to once resolved."""


@dataclass(frozen=True)
class Reference:
    """One ``${kind:argument}`` reference; ``text`` is as written."""

    kind: Literal["env", "file"]
    argument: str

    @property
    def text(self) -> str:
        return f"${{{self.kind}:{self.argument}}}"


class ReferenceSyntaxError(ValueError):
    """A ``${`` that does not start a valid reference. The message quotes no value."""


Segment = str | Reference


def escape(text: str) -> str:
    """``text`` written so that it resolves to itself: every ``${`` becomes ``$${``."""
    return text.replace("${", ESCAPE)


def parse_template(text: str) -> tuple[Segment, ...]:
    """Split ``text`` into literal strings and references (escapes already unescaped)."""
    if "$" not in text:
        return (text,)
    segments: list[Segment] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token == ESCAPE:
            literal.append("${")
            continue
        segments.extend(_flush(literal))
        segments.append(_reference(match.group(1)))
    literal.append(text[position:])
    segments.extend(_flush(literal))
    return tuple(segments)


def _flush(literal: list[str]) -> list[Segment]:
    joined = "".join(literal)
    literal.clear()
    return [joined] if joined else []


def _reference(body: str | None) -> Reference:
    if body is None:
        raise ReferenceSyntaxError(f"unterminated reference: '${{' without '}}' ({_HINT})")
    kind, colon, argument = body.partition(":")
    if not colon or kind not in ("env", "file"):
        shown = f"'${{{kind}:...}}'" if colon and _KIND.fullmatch(kind) else "'${...}'"
        raise ReferenceSyntaxError(f"invalid reference {shown} ({_HINT})")
    if "${" in argument:
        raise ReferenceSyntaxError(f"nested references are not supported in '${{{kind}:...}}'")
    if kind == "env":
        if not _ENV_NAME.fullmatch(argument):
            raise ReferenceSyntaxError(
                "invalid reference '${env:...}': the name must be letters, digits and _ "
                "and not start with a digit"
            )
        return Reference("env", argument)
    if not argument:
        raise ReferenceSyntaxError("invalid reference '${file:}': the path is empty")
    return Reference("file", argument)


@dataclass(frozen=True)
class Resolution:
    """Data with references resolved.

    ``sources`` maps every path whose string held at least one reference to that string as
    written (e.g. ``"Bearer ${env:TOKEN}"``): show it instead of the value in messages.
    """

    data: Any
    sources: Mapping[YamlPath, str]

    def shown(self, path: YamlPath, value: object) -> str:
        """How a message may show the value at ``path``: as written when it is a reference."""
        template = self.sources.get(path)
        if template is not None:
            return f"the value of {template}"
        if isinstance(value, str) and value.isprintable() and "'" not in value:
            return f"'{value}'"
        return repr(value)


def resolve(
    data: Any,
    *,
    environ: Mapping[str, str],
    read_file: FileReader,
    document: YamlDocument,
    start: YamlPath = (),
) -> Resolution:
    """Resolve every reference in ``data`` (the value at ``start`` within ``document``).

    Paths in the result are relative to ``data``; ``start`` only places errors in the
    document. Raises ``ReferenceError_`` naming the document, line and path.
    """
    resolver = _Resolver(environ, read_file, document, start)
    return Resolution(data=resolver.walk(data, ()), sources=resolver.sources)


class _Resolver:
    def __init__(
        self,
        environ: Mapping[str, str],
        read_file: FileReader,
        document: YamlDocument,
        start: YamlPath,
    ) -> None:
        self.environ = environ
        self.read_file = read_file
        self.document = document
        self.start = start
        self.sources: dict[YamlPath, str] = {}
        self.files: dict[str, str] = {}
        self.resolved_text = 0

    def walk(self, value: Any, path: YamlPath) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, dict):
            return {key: self.walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.walk(item, (*path, index)) for index, item in enumerate(value)]
        return value

    def string(self, text: str, path: YamlPath) -> str:
        if "$" not in text:
            return text
        try:
            segments = parse_template(text)
        except ReferenceSyntaxError as exc:
            raise self.error(path, str(exc)) from exc
        if not any(isinstance(segment, Reference) for segment in segments):
            return "".join(segment for segment in segments if isinstance(segment, str))
        self.sources[path] = text
        resolved = "".join(self.value(segment, path) for segment in segments)
        self.resolved_text += len(resolved)
        if self.resolved_text > MAX_RESOLVED_TEXT:
            raise self.error(
                path,
                f"the references in this file resolve to more than {MAX_RESOLVED_TEXT // 2**20} "
                "MiB of text in all",
            )
        return resolved

    def value(self, segment: Segment, path: YamlPath) -> str:
        if isinstance(segment, str):
            return segment
        if segment.kind == "env":
            found = self.environ.get(segment.argument)
            if found is None:
                raise self.error(path, f"{segment.text} is not set")
            return found
        return self.file(segment, path)

    def file(self, reference: Reference, path: YamlPath) -> str:
        cached = self.files.get(reference.argument)
        if cached is not None:
            return cached
        try:
            text = self.read_file(reference.argument)
        except UnicodeDecodeError as exc:
            raise self.error(path, f"{reference.text}: the file is not valid UTF-8") from exc
        except FileNotFoundError as exc:
            raise self.error(path, f"{reference.text}: the file does not exist") from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise self.error(path, f"{reference.text}: the file cannot be read ({reason})") from exc
        text = _strip_one_newline(text)
        self.files[reference.argument] = text
        return text

    def error(self, path: YamlPath, message: str) -> ReferenceError_:
        where = (*self.start, *path)
        return ReferenceError_(
            f"{format_path(where)}: {message}",
            path=self.document.name,
            line=self.document.line_of(where),
        )


def _strip_one_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text
