"""The one wrapper around ruamel.yaml: YAML text in, plain data and line numbers out.

This module owns parsing YAML safely. It knows nothing about the desired-state file: it turns
text into plain Python data (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``,
``None``) and remembers, for every path into that data, the 1-based line where it was written.

Safety:

* Only the standard YAML 1.2 scalar types are built; any other tag (``!!python/...``,
  ``!!binary``, ``!custom``) is refused. Timestamps stay strings, as written.
* Duplicate mapping keys and recursive aliases are refused, and so is a document whose aliases
  expand to more than ``MAX_NODES`` values or ``MAX_TEXT`` characters of scalars (an alias
  bomb, or one long string aliased many times).
* A file is read only when it is a regular file of at most ``DOCUMENT_LIMIT`` bytes
  (``reconciler.local_files``).
* Error messages name the document and line and never quote the text of the document (it may
  hold secrets): only the parser's description of the problem.

Speed: a document is composed from the events of libyaml (ruamel.yaml.clib's C parser, about
ten times faster than the pure-Python one on a 10,000-entry file). Whenever that path is unsure
(libyaml reports an error; the document has a ``%YAML`` directive, more than one document, an
undefined alias, a tab or NEL/LS/PS character, or nesting near ``MAX_DEPTH``) the pure-Python parser
composes the document again and its answer stands: every error message and limit is its own.
Where both read a document, they read it alike (tests/desired/test_yaml_libyaml_path.py
compares them); a few texts the pure parser refuses although YAML allows them (lines of spaces
inside a block scalar) are read as libyaml reads them.

Errors are raised as ``DesiredStateError`` with ``path`` set to the document name.

Other YAML the tool reads (CPA's own config.yaml) is composed with the same bounds by
``compose`` and checked by ``check_expansion``; its caller words the errors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from reconciler.desired import parse_ahead
from reconciler.errors import DesiredStateError
from reconciler.local_files import DOCUMENT_LIMIT, read_bounded, shown_size

_CParser: Any
try:  # ruamel.yaml.clib is a dependency; without it every document takes the pure path
    from ruamel.yaml import cyaml
except ImportError:  # pragma: no cover - depends on the installation
    _CParser = None
else:
    _CParser = getattr(cyaml, "CParser", None)


__all__ = [
    "DOCUMENT_LIMIT",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT",
    "ExpansionError",
    "YamlDocument",
    "YamlPath",
    "check_expansion",
    "compose",
    "format_path",
    "parse_yaml",
    "read_yaml",
]

YamlPath = tuple[Any, ...]
"""A path into loaded data: mapping keys and list indexes, outermost first."""

MAX_DEPTH = 200
"""Deepest nesting accepted (guards the recursion of the parser and of this module)."""

MAX_NODES = 1_000_000
"""Most values a document may expand to once aliases are followed (guards alias bombs)."""

MAX_TEXT = 16 * 1024 * 1024
"""Most characters of scalars (keys and values) a document may expand to once aliases are
followed: one long string aliased many times. A document without aliases is no larger than its
text, which ``read_yaml`` bounds to ``DOCUMENT_LIMIT`` bytes."""

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset({_TAG + "null", _TAG + "bool", _TAG + "int", _TAG + "float"})
_STRING_TAGS = frozenset({_TAG + "str", _TAG + "timestamp"})
_MERGE_TAG = _TAG + "merge"
_MAP_TAG = _TAG + "map"
_SEQ_TAG = _TAG + "seq"


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document.

    ``data`` is plain Python data (``None`` for an empty document). ``lines`` maps each path
    that was written in the text to its 1-based line: for a mapping value, the line of its
    key; for a list item, the line where the item starts. Inside a value reached through an
    alias, the lines are those where the anchored value is written.
    """

    name: str
    data: Any
    lines: Mapping[YamlPath, int]
    string_keys: bool = False
    """True when every mapping key is known to be a string (the fast path saw each one)."""
    dollar_paths: frozenset[YamlPath] | None = None
    """The paths of every string value holding a ``$`` (where a reference may be), when known
    (the fast path saw each one): nothing else in ``data`` needs resolving."""

    def line_of(self, path: Sequence[Any]) -> int:
        """The line of ``path``, or of its nearest written ancestor (1 for the root)."""
        parts = tuple(path)
        while parts:
            line = self.lines.get(parts)
            if line is not None:
                return line
            parts = parts[:-1]
        return self.lines.get((), 1)


def format_path(path: Sequence[Any]) -> str:
    """``("auth-files", "files", 0, "name")`` as ``auth-files.files[0].name``."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


#: Told each top-level key as it is read (with None), and again with its value once that value,
#: a mapping, has been read, while the rest of the document is still being read
#: (``read_yaml``). A hint, not the document: the document read in the end decides (a later
#: error, or a duplicate key, still fails the read).
OnSection = Callable[[str, dict[str, Any] | None], None]


def read_yaml(
    path: str | Path, *, name: str | None = None, on_section: OnSection | None = None
) -> YamlDocument:
    """Read and parse the YAML file at ``path``; ``name`` (default: the path) names it in errors.
    ``on_section``: see ``OnSection`` (told only on the fast path, plain documents; it must
    not raise)."""
    shown = name if name is not None else str(path)
    try:
        raw = read_bounded(path, DOCUMENT_LIMIT)
    except FileNotFoundError as exc:
        raise DesiredStateError("file not found", path=shown) from exc
    except IsADirectoryError as exc:
        raise DesiredStateError("is a directory, expected a YAML file", path=shown) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DesiredStateError(f"cannot be read: {reason}", path=shown) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DesiredStateError("not valid UTF-8", path=shown, line=line) from exc
    ahead = parse_ahead.take(raw, on_section)  # parsed on a second core meanwhile, if at all
    if ahead.parsed is not None:
        data, lines, string_keys, dollar_paths = ahead.parsed
        return YamlDocument(
            name=shown,
            data=data,
            lines=lines,
            string_keys=string_keys,
            dollar_paths=dollar_paths,
        )
    return parse_yaml(text, name=shown, on_section=None if ahead.told else on_section)


def parse_yaml(
    text: str, *, name: str, libyaml: bool = True, on_section: OnSection | None = None
) -> YamlDocument:
    """Parse one YAML document from ``text``; ``name`` names it in error messages.

    ``libyaml=False`` composes with the pure-Python parser only (the answer is the same; the
    tests compare the two).
    """
    if libyaml:
        direct = _build_libyaml(text, name, on_section=on_section)
        if direct is not None:
            return direct
    yaml = _pure_yaml()
    composed = _compose_libyaml(text) if libyaml else None
    if composed is not None:
        try:
            return _document(name, yaml, *composed)
        except DesiredStateError:
            pass  # the pure parser places and words the error (libyaml marks empty values apart)
    return _document(name, yaml, _compose_pure(yaml, text, name), True)


def compose(text: str) -> Node | None:
    """The node tree of the one YAML document in ``text`` (``None`` when empty), for YAML that
    is not a desired state (CPA's config.yaml): read as ``YAML(typ="safe")`` reads it (libyaml,
    YAML 1.2 rules, a ``%YAML`` directive ignored), but composed iteratively within
    ``MAX_DEPTH`` and ``MAX_NODES`` (libyaml's own composer recurses in C and overflows the C
    stack on deep nesting) and checked with ``check_expansion``. The caller builds the data
    with its own constructor.

    Raises ruamel's ``YAMLError`` (syntax, nesting too deep) or ``ExpansionError``.
    """
    composed = None
    if _CParser is not None:
        try:
            composed = _compose_events(_CParser(text), directives=True)
        except _Unsure:  # too deep, too many nodes, ...: the pure parser says what is wrong
            composed = None
    if composed is not None:
        root, aliased = composed
    else:
        root, aliased = _pure_yaml().compose(text), True
    if root is not None and aliased:
        check_expansion(root)
    return root


class ExpansionError(Exception):
    """A document that refers to itself, or expands beyond ``MAX_NODES`` or ``MAX_TEXT``;
    ``node`` is where (its ``start_mark`` gives the line)."""

    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.node = node


def check_expansion(root: Node) -> None:
    """Refuse a node tree that holds a recursive alias, or whose aliases expand to more than
    ``MAX_NODES`` values or ``MAX_TEXT`` characters of scalars.

    Each node is measured once (an alias reuses its anchor's measure), so a bomb is refused in
    time proportional to its text, not to its expansion.
    """
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def size(node: Node) -> tuple[int, int]:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in active:
            raise ExpansionError("YAML: recursive alias", node)
        active.add(id(node))
        nodes, text = 1, 0
        if isinstance(node, ScalarNode):
            text = len(node.value)
        else:
            children: list[Node] = []
            if isinstance(node, SequenceNode):
                children = node.value
            elif isinstance(node, MappingNode):
                children = [part for pair in node.value for part in pair]
            for child in children:
                child_nodes, child_text = size(child)
                nodes += child_nodes
                text += child_text
        active.discard(id(node))
        sizes[id(node)] = (nodes, text)
        if nodes > MAX_NODES:
            raise ExpansionError(
                f"YAML: document too large once aliases are expanded (more than {MAX_NODES:,} "
                "values)",
                node,
            )
        if text > MAX_TEXT:
            raise ExpansionError(
                "YAML: document too large once aliases are expanded (more than "
                f"{shown_size(MAX_TEXT)} of text)",
                node,
            )
        return nodes, text

    size(root)


def _document(name: str, yaml: YAML, root: Node | None, aliased: bool) -> YamlDocument:
    if root is None:
        return YamlDocument(name=name, data=None, lines={(): 1})
    builder = _Builder(name, yaml.constructor)
    if aliased:  # without aliases the tree is no larger than the text: nothing to expand
        try:
            check_expansion(root)
        except ExpansionError as exc:
            raise builder.error(str(exc), exc.node) from None
    data = builder.build(root, ())
    return YamlDocument(name=name, data=data, lines=builder.lines)


def _pure_yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.max_depth = MAX_DEPTH
    composer: Composer = yaml.composer
    composer.warn_double_anchors = False
    return yaml


def _compose_pure(yaml: YAML, text: str, name: str) -> Node | None:
    """The document's node tree from the pure-Python parser, or its error as ours."""
    try:
        root: Node | None = yaml.compose(text)
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, name, text) from exc
    except ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise DesiredStateError(
            f"YAML: unacceptable character: {exc.reason}", path=name, line=line
        ) from exc
    except YAMLError as exc:  # pragma: no cover - other ruamel errors carry no position
        raise DesiredStateError(f"YAML: {type(exc).__name__}", path=name) from exc
    return root


_IMPLICIT: Mapping[str | None, list[tuple[str, Any]]] = VersionedResolver(
    version=(1, 2)
).versioned_resolver
"""The pure parser's implicit-tag rules for YAML 1.2 (a document without a %YAML directive),
by first character (``None``: rules for any first character)."""


@functools.cache
def _tag(name: str) -> Tag:
    return Tag(suffix=name)


@functools.cache
def _rules(first: str) -> list[tuple[str, Any]]:
    # ruamel wraps its patterns in a LazyEval whose every attribute lookup is a Python call:
    # the compiled pattern itself is matched ~100,000 times on a 10,000-entry file.
    return [
        (name, getattr(pattern, "lazy_self", lambda p=pattern: p)())
        for name, pattern in _IMPLICIT.get(first, []) + _IMPLICIT.get(None, [])
    ]


def _scalar_tag(value: str, implicit: tuple[bool, bool]) -> Tag:
    """The tag the pure resolver gives a plain or non-specific scalar (its ``resolve()``)."""
    return _tag(_scalar_tag_name(value, implicit))


def _scalar_tag_name(value: str, implicit: tuple[bool, bool]) -> str:
    """``_scalar_tag`` as its name (``tag:yaml.org,2002:str``, ...)."""
    if implicit[0]:
        for name, pattern in _rules(value[0] if value else ""):
            if pattern.match(value):
                return name
    return _TAG + "str"


_PURE_ONLY = ("\t", "\x85", "\u2028", "\u2029")
"""Characters the two parsers read differently: libyaml accepts tabs where the pure parser
refuses some, and counts NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR as line breaks where the
pure parser does not always. A document holding one is composed by the pure parser alone."""


_MARKERS = re.compile(r"^(?:---|\.\.\.)", re.MULTILINE)
"""Document markers: any but one ``---`` (a document end, another document) and the pure
parser decides, as it reads some block scalars differently at a marker."""


class _Unsure(Exception):
    """The libyaml path stops: the pure parser decides."""


def _compose_libyaml(text: str) -> tuple[Node | None, bool] | None:
    """The node tree the pure composer would build, from libyaml's events, and whether it
    holds an alias; ``None`` when the pure parser must decide.

    Iterative (libyaml's own composer recurses in C and overflows the C stack on deep
    nesting); stops as soon as the document nests ``MAX_DEPTH - 1`` collections deep, or holds
    more than ``MAX_NODES`` nodes.
    """
    if _CParser is None:  # pragma: no cover - depends on the installation
        return None
    if any(char in text for char in _PURE_ONLY) or _MARKERS.findall(text) not in ([], ["---"]):
        return None
    try:
        return _compose_events(_CParser(text))
    except Exception:  # any doubt at all: the pure parser decides, and words any error
        return None


def fast_path(text: str, on_section: OnSection | None = None) -> YamlDocument | None:
    """The document as ``parse_yaml`` builds it on its fast path (libyaml's events straight
    to data), or None where ``parse_yaml`` would take another path; for ``parse_ahead``."""
    return _build_libyaml(text, "", on_section=on_section)


def safe_data(text: str) -> tuple[Any] | None:
    """The data of a plain YAML document as ``YAML(typ="safe")`` builds it (timestamps as
    ``datetime``), straight from libyaml's events, in a 1-tuple; ``None`` when it is not plain
    (see ``_build_libyaml``): ``compose`` then reads it. For CPA's own config.yaml, whose
    10,000 api-keys took as long to read as the listing of 10,000 files."""
    built = _build_libyaml(text, "", typed=True)
    return None if built is None else (built.data,)


def _build_libyaml(
    text: str, name: str, *, typed: bool = False, on_section: OnSection | None = None
) -> YamlDocument | None:
    """The document built straight from libyaml's events, with no node tree in between
    (a third of the time on a 10,000-entry file), for the plain documents desired states are:
    ``None`` at the first thing it does not handle (an anchor or alias, a merge key, an
    explicit tag, a key that is not a plain scalar or appears twice, a value its constructor
    refuses, nesting near ``MAX_DEPTH``, anything ``_compose_libyaml`` leaves to the pure
    parser). The node path then reads the document again and its answer stands, errors
    included; where both read a document they read it alike (tests/desired/test_yaml_libyaml_path.py)."""
    if _CParser is None:  # pragma: no cover - depends on the installation
        return None
    if any(char in text for char in _PURE_ONLY) or _MARKERS.findall(text) not in ([], ["---"]):
        return None
    try:
        return _build_events(_CParser(text), name, typed, on_section)
    except Exception:  # any doubt at all: the node path decides
        return None


class _Frame:
    """A collection being filled: its path, and for a mapping the key waiting for its value."""

    __slots__ = ("container", "key", "key_line", "path")

    def __init__(self, container: Any, path: YamlPath) -> None:
        self.container = container
        self.path = path
        self.key: Any = _NO_KEY
        self.key_line = 0


_NO_KEY = object()


_TYPED_PLAIN_TAGS = _PLAIN_TAGS | {_TAG + "timestamp"}


def _build_events(
    parser: Any, name: str, typed: bool, on_section: OnSection | None = None
) -> YamlDocument | None:
    """``typed``: timestamps built as ``datetime`` (YAML(typ="safe")), else kept as written;
    no lines are recorded then (nobody asks). ``on_section``: see ``OnSection``."""
    strings, plain = (
        (_STRING_TAGS - {_TAG + "timestamp"}, _TYPED_PLAIN_TAGS)
        if typed
        else (_STRING_TAGS, _PLAIN_TAGS)
    )
    get = parser.get_event
    get()  # stream start
    event = get()
    if type(event) is StreamEndEvent:  # empty: no key, no string
        return YamlDocument(
            name=name, data=None, lines={(): 1}, string_keys=True, dollar_paths=frozenset()
        )
    if type(event) is not DocumentStartEvent or event.version is not None:
        return None
    lines: dict[YamlPath, int] = {(): 1}
    stack: list[_Frame] = []
    root: Any = _NO_KEY
    string_keys = True
    dollars: list[YamlPath] = []  # where a string value holds a "$" (a reference, maybe)
    count = 0
    while root is _NO_KEY:
        event = get()
        count += 1
        if count > MAX_NODES:
            return None
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or (event.ctag is not None and str(event.ctag) != "!"):
                return None
            tag = _scalar_tag_name(event.value, event.implicit)
            if tag in strings:
                value: Any = event.value
                dollar = "$" in value
            elif tag in plain:
                value = _plain_value(tag, event.value)
                dollar = False
            else:
                return None  # the merge key, or a tag the builder refuses
            is_collection = False
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or (event.ctag is not None and str(event.ctag) != "!"):
                return None
            if len(stack) >= MAX_DEPTH - 1:
                return None
            value = {} if kind is MappingStartEvent else []
            is_collection, dollar = True, False
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            frame = stack.pop()
            if frame.key is not _NO_KEY:  # pragma: no cover - libyaml pairs every key
                return None
            if not stack:
                root = frame.container
            elif on_section is not None and len(stack) == 1 and type(frame.container) is dict:
                (key,) = frame.path or (None,)  # () when typed: nobody asks then
                if type(key) is str:
                    on_section(key, frame.container)
            continue
        else:
            return None  # an alias, or anything unexpected
        line = event.start_mark.line + 1
        path: YamlPath = ()  # where the value is: kept only for the lines (not when typed)
        if not stack:
            if not is_collection:
                root = value
        else:
            frame = stack[-1]
            parent = frame.container
            if type(parent) is list:
                if not typed:
                    path = (*frame.path, len(parent))
                    lines.setdefault(path, line)
                    if dollar:
                        dollars.append(path)
                parent.append(value)
            elif frame.key is _NO_KEY:  # this is a key
                if is_collection or value in parent:
                    return None
                if type(value) is not str:
                    string_keys = False
                frame.key, frame.key_line = value, line
                if on_section is not None and len(stack) == 1 and type(value) is str:
                    on_section(value, None)
                continue
            else:
                if not typed:
                    path = (*frame.path, frame.key)
                    lines.setdefault(path, frame.key_line)
                    if dollar:
                        dollars.append(path)
                parent[frame.key] = value
                frame.key = _NO_KEY
        if is_collection:
            stack.append(_Frame(value, path))
    get()  # document end
    if type(get()) is not StreamEndEvent:
        return None
    return YamlDocument(
        name=name,
        data=root,
        lines=lines,
        string_keys=string_keys,
        dollar_paths=None if typed else frozenset(dollars),
    )


@functools.lru_cache(maxsize=4096)
def _plain_value(tag: str, value: str) -> Any:
    """A null, bool, int or float scalar as the builder's constructor builds it (immutable, so
    one value per spelling is shared). Raises what the constructor raises."""
    constructor = _plain_constructor()
    node = ScalarNode(_tag(tag), value, None, None)
    try:
        return constructor.construct_object(node, deep=True)
    finally:
        constructor.constructed_objects.pop(node, None)


@functools.cache
def _plain_constructor() -> SafeConstructor:
    constructor: SafeConstructor = _pure_yaml().constructor
    return constructor


def _compose_events(parser: Any, *, directives: bool = False) -> tuple[Node | None, bool]:
    """``directives``: read a document with a ``%YAML`` directive too (by YAML 1.2 rules)."""
    get = parser.get_event
    get()  # stream start
    event = get()
    if isinstance(event, StreamEndEvent):
        return None, False
    if not isinstance(event, DocumentStartEvent) or (event.version is not None and not directives):
        raise _Unsure
    anchors: dict[Any, Node] = {}
    stack: list[CollectionNode] = []
    keys: list[Node | None] = []
    root: Node | None = None
    aliased = False
    nodes = 0
    while root is None:
        event = get()
        nodes += 1
        if nodes > MAX_NODES:
            raise _Unsure
        node: Node
        if isinstance(event, ScalarEvent):
            tag = event.ctag
            if tag is None or str(tag) == "!":
                tag = _scalar_tag(event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            if event.anchor is not None:
                anchors[event.anchor] = node
        elif isinstance(event, (SequenceStartEvent, MappingStartEvent)):
            if len(stack) >= MAX_DEPTH - 1:
                raise _Unsure
            kind, default = (
                (SequenceNode, _SEQ_TAG)
                if isinstance(event, SequenceStartEvent)
                else (MappingNode, _MAP_TAG)
            )
            tag = event.ctag
            if tag is None or str(tag) == "!":
                tag = _tag(default)
            collection = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if event.anchor is not None:
                anchors[event.anchor] = collection
            stack.append(collection)
            keys.append(None)
            continue
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            node = stack.pop()
            keys.pop()
            node.end_mark = event.end_mark
        elif isinstance(event, AliasEvent):
            if event.anchor not in anchors:
                raise _Unsure
            node = anchors[event.anchor]
            aliased = True
        else:
            raise _Unsure
        if not stack:
            root = node
        elif isinstance(stack[-1], SequenceNode):
            stack[-1].value.append(node)
        elif keys[-1] is None:
            keys[-1] = node
        else:
            stack[-1].value.append((keys[-1], node))
            keys[-1] = None
    get()  # document end
    if not isinstance(get(), StreamEndEvent):
        raise _Unsure  # another document: the pure parser says so
    return root, aliased


def _syntax_error(exc: MarkedYAMLError, name: str, text: str) -> DesiredStateError:
    """A message from the parser's own words, never from the document's text (but for a
    ``${...}`` reference the error sits at, which holds no value)."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    words = [str(part) for part in (exc.context, exc.problem) if part]
    detail = re.sub(r"\s+", " ", ": ".join(words)).strip() or "syntax error"
    start = exc.context_mark
    if start is not None and line is not None and start.line + 1 != line:
        detail += f" (started at line {start.line + 1})"
    hint = _reference_hint(text, exc.problem_mark)
    return DesiredStateError(f"YAML syntax error: {detail}{hint}", path=name, line=line)


_REFERENCE_AT = re.compile(r"\$\{(?:env|file):[^\s{}\[\],'\"#]{1,200}\}")


def _reference_hint(text: str, mark: Any) -> str:
    """When the error sits at a ``${``: in ``[...]`` or ``{...}`` YAML reads ``{`` as the start
    of a mapping, so a reference written there unquoted is a syntax error."""
    index = getattr(mark, "index", None)
    if not isinstance(index, int) or index < 1 or index > len(text):
        return ""
    start = index - 1 if text[index - 1 : index + 1] == "${" else index
    if text[start : start + 2] != "${":
        return ""
    found = _REFERENCE_AT.match(text, start)
    example = found.group(0) if found else "${env:NAME}"
    return f'; inside [...] or {{...}} a reference must be quoted: write "{example}"'


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Builder:
    """Turns a composed node tree into plain data, recording lines and refusing unsafe input."""

    def __init__(self, name: str, constructor: SafeConstructor) -> None:
        self.name = name
        self.constructor = constructor
        self.lines: dict[YamlPath, int] = {(): 1}

    def error(self, message: str, node: Node) -> DesiredStateError:
        return DesiredStateError(message, path=self.name, line=_line(node))

    def build(self, node: Node, path: YamlPath) -> Any:
        """Plain data for ``node``; an alias gets its own copy, so the data is a tree."""
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            return self.sequence(node, path)
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        raise self.error(f"YAML: unexpected node {type(node).__name__}", node)  # pragma: no cover

    def scalar(self, node: ScalarNode) -> Any:
        tag = str(node.tag)
        if tag in _STRING_TAGS:
            return str(node.value)
        if tag in _PLAIN_TAGS:
            try:
                return self.constructor.construct_object(node, deep=True)
            except (YAMLError, ValueError, LookupError, TypeError, OverflowError) as exc:
                raise self.error(f"YAML: invalid {tag.removeprefix(_TAG)} value", node) from exc
        raise self.error(f"YAML: unsupported tag {_shown_tag(tag)}", node)

    def sequence(self, node: SequenceNode, path: YamlPath) -> list[Any]:
        if str(node.tag) != _SEQ_TAG:
            raise self.error(f"YAML: unsupported tag {_shown_tag(str(node.tag))}", node)
        items: list[Any] = []
        for index, child in enumerate(node.value):
            child_path = (*path, index)
            self.lines.setdefault(child_path, _line(child))
            items.append(self.build(child, child_path))
        return items

    def mapping(self, node: MappingNode, path: YamlPath) -> dict[Any, Any]:
        if str(node.tag) != _MAP_TAG:
            raise self.error(f"YAML: unsupported tag {_shown_tag(str(node.tag))}", node)
        result: dict[Any, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and str(key_node.tag) == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = self.key(key_node)
            if key in result:
                raise self.error(f"YAML: duplicate key {_shown_key(key)}", key_node)
            child_path = (*path, key)
            self.lines.setdefault(child_path, _line(key_node))
            result[key] = self.build(value_node, child_path)
        for merge in merges:  # after the explicit keys, whose lines and values win
            for key, value in self.merge_sources(merge, path).items():
                result.setdefault(key, value)
        return result

    def key(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise self.error("YAML: a mapping key must be a scalar, not a list or mapping", node)
        return self.scalar(node)

    def merge_sources(self, node: Node, path: YamlPath) -> dict[Any, Any]:
        """The mapping(s) named by a ``<<`` merge key; earlier ones win, as YAML says."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, MappingNode):
                raise self.error("YAML: a merge key (<<) must name a mapping", source)
            for key, value in self.build(source, path).items():
                merged.setdefault(key, value)
        return merged


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _shown_key(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."
