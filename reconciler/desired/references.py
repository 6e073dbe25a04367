"""``${env:NAME}`` and ``${file:PATH}`` references: parsing them and resolving them in data.

This module owns the reference syntax and its resolution. A reference may stand wherever a
string value does, as the whole value or inside a larger string, several per string:

* ``${env:NAME}``: the value of the environment variable ``NAME`` (an error when it is unset);
* ``${file:PATH}``: the text of the file ``PATH``, with one trailing newline stripped;
* ``${management-key}``: the management key the reconciler authenticates with, wherever it came
  from (flag, environment or ``target.management-key``); the loader allows it only at
  ``remote-management.secret-key`` and binds it once the key is known;
* ``$${``: a literal ``${``.

Mapping keys are never resolved. The environment and the file reader are parameters: nothing
here reads ``os.environ`` or the disk, so the caller decides where values come from.
``resolve`` returns the new data and the paths whose value came from a reference; error messages
name the file, line and path and show the reference as written, never its value. A reference
that cannot be resolved (an unset variable, a missing file) does not stop the walk: all of them
are reported together, each with its file:line (``Unresolved``, ``unresolved_error``).
``placeholders=True`` reads nothing: every reference stands for itself, as written
(``validate --no-references``). ``defer`` names paths left as written, resolved later if at all
(``target.management-key``, needed only when no key is given by flag or environment).

Bounds: the caller's reader bounds each file (``reconciler.local_files``); here, all the strings
built from references together hold at most ``MAX_RESOLVED_TEXT`` characters (a 1 MiB file
named by 10,000 references would otherwise make 10 GiB of strings).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.desired.yaml_io import MAX_TEXT, YamlDocument, YamlPath, format_path
from reconciler.errors import ReferenceError_

__all__ = [
    "ESCAPE",
    "MANAGEMENT_KEY",
    "MAX_RESOLVED_TEXT",
    "FileReader",
    "Reference",
    "ReferenceSyntaxError",
    "Resolution",
    "Unresolved",
    "escape",
    "parse_template",
    "resolve",
    "unresolved_error",
]

ESCAPE = "$${"
"""Written in a string to mean a literal ``${``."""

FileReader = Callable[[str], str]
"""Returns the text of the file named by ``${file:PATH}`` (PATH as written); raises OSError
or UnicodeDecodeError when it cannot."""

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HINT = "use ${env:NAME}, ${file:PATH} or ${management-key}; write $${ for a literal ${"

MANAGEMENT_KEY = "${management-key}"
"""The reference to the management key in use, as written."""

MAX_RESOLVED_TEXT = MAX_TEXT
"""Most characters all the strings that hold a reference may add up to once resolved."""


@dataclass(frozen=True)
class Reference:
    """One ``${kind:argument}`` reference; ``text`` is as written."""

    kind: Literal["env", "file", "management-key"]
    argument: str = ""

    @property
    def text(self) -> str:
        if self.kind == "management-key":
            return MANAGEMENT_KEY
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
    if body == "management-key":
        return Reference("management-key")
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
class Unresolved:
    """A reference that could not be resolved: ``message`` names it as written (never a value);
    ``env`` is the unset variable's name, ``file`` the missing or unreadable file as written."""

    document: str
    line: int
    path: YamlPath
    message: str
    env: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {format_path(self.path)}: {self.message}"


def unresolved_error(problems: Sequence[Unresolved]) -> ReferenceError_:
    """One error listing every unresolved reference, in file and line order: the first names
    the place as every error does, the others follow on lines of their own."""
    ordered = sorted(problems, key=lambda p: (p.document, p.line))
    first, rest = ordered[0], ordered[1:]
    unset = tuple(dict.fromkeys(p.env for p in ordered if p.env is not None))
    files = tuple(dict.fromkeys(p.file for p in ordered if p.file is not None))
    lines = [f"{format_path(first.path)}: {first.message}", *(str(p) for p in rest)]
    if len(ordered) > 1:
        lines.append(f"({len(ordered)} references cannot be resolved)")
    return ReferenceError_(
        "\n".join(lines),
        path=first.document,
        line=first.line,
        unset_env=unset,
        missing_files=files,
    )


@dataclass(frozen=True)
class Resolution:
    """Data with references resolved.

    ``sources`` maps every path whose string held at least one reference to that string as
    written (e.g. ``"Bearer ${env:TOKEN}"``): show it instead of the value in messages.
    ``unresolved`` lists what could not be resolved (only when ``resolve`` was asked to
    collect, else it raised); their values are left as written. ``key_paths`` are the paths
    whose string holds ``${management-key}`` (left as written: the loader binds them).
    """

    data: Any
    sources: Mapping[YamlPath, str]
    unresolved: tuple[Unresolved, ...] = ()
    key_paths: frozenset[YamlPath] = frozenset()

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
    placeholders: bool = False,
    defer: frozenset[YamlPath] = frozenset(),
    collect: bool = False,
) -> Resolution:
    """Resolve every reference in ``data`` (the value at ``start`` within ``document``).

    Paths in the result are relative to ``data``; ``start`` only places errors in the
    document. A syntax error raises ``ReferenceError_`` at once. References that cannot be
    resolved are all gathered: with ``collect`` they are returned in ``unresolved``, else one
    ``ReferenceError_`` lists them all. ``placeholders``: nothing is read, every reference is
    left as written. ``defer``: paths (relative to ``data``) whose strings are checked and
    recorded in ``sources`` but left as written. ``${management-key}`` is always left as
    written (see ``Resolution.key_paths``).
    """
    resolver = _Resolver(environ, read_file, document, start, placeholders, defer)
    if data is document.data and not start and document.dollar_paths is not None:
        resolver.reach = _prefixes(document.dollar_paths)
    data = resolver.walk(data, ())
    if resolver.unresolved and not collect:
        raise unresolved_error(resolver.unresolved)
    return Resolution(
        data=data,
        sources=resolver.sources,
        unresolved=tuple(resolver.unresolved),
        key_paths=frozenset(resolver.key_paths),
    )


def _prefixes(paths: frozenset[YamlPath]) -> set[YamlPath]:
    """Every path from the root to each of ``paths``: the containers the walk must enter
    (``YamlDocument.dollar_paths``: no other string holds a ``$``, so none holds a reference)."""
    return {path[:end] for path in paths for end in range(len(path) + 1)}


class _Resolver:
    def __init__(
        self,
        environ: Mapping[str, str],
        read_file: FileReader,
        document: YamlDocument,
        start: YamlPath,
        placeholders: bool,
        defer: frozenset[YamlPath],
    ) -> None:
        self.environ = environ
        self.read_file = read_file
        self.document = document
        self.start = start
        self.placeholders = placeholders
        self.defer = defer
        self.sources: dict[YamlPath, str] = {}
        self.files: dict[str, str] = {}
        self.failed_files: dict[str, str] = {}
        self.resolved_text = 0
        self.unresolved: list[Unresolved] = []
        self.key_paths: set[YamlPath] = set()
        self.reach: set[YamlPath] | None = None  # see ``_prefixes``; None: walk everything

    def walk(self, value: Any, path: YamlPath) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if self.reach is not None and path not in self.reach:
            return value  # no string with a "$" inside: nothing to resolve, nothing to copy
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
        if any(isinstance(s, Reference) and s.kind == "management-key" for s in segments):
            self.key_paths.add(path)
        if self.placeholders or path in self.defer:
            return text
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
        if segment.kind == "management-key":
            return segment.text  # bound by the loader once the key in use is known
        if segment.kind == "env":
            found = self.environ.get(segment.argument)
            if found is None:
                self.fail(path, f"{segment.text} is not set", env=segment.argument)
                return segment.text
            return found
        return self.file(segment, path)

    def file(self, reference: Reference, path: YamlPath) -> str:
        cached = self.files.get(reference.argument)
        if cached is not None:
            return cached
        failed = self.failed_files.get(reference.argument)
        if failed is None:
            try:
                text = self.read_file(reference.argument)
            except UnicodeDecodeError:
                failed = "the file is not valid UTF-8"
            except FileNotFoundError:
                failed = "the file does not exist"
            except OSError as exc:
                failed = f"the file cannot be read ({exc.strerror or type(exc).__name__})"
            else:
                text = _strip_one_newline(text)
                self.files[reference.argument] = text
                return text
            self.failed_files[reference.argument] = failed
        self.fail(path, f"{reference.text}: {failed}", file=reference.argument)
        return reference.text

    def fail(
        self, path: YamlPath, message: str, *, env: str | None = None, file: str | None = None
    ) -> None:
        where = (*self.start, *path)
        self.unresolved.append(
            Unresolved(
                document=self.document.name or "",
                line=self.document.line_of(where),
                path=where,
                message=message,
                env=env,
                file=file,
            )
        )

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
