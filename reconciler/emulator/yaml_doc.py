"""config.yaml as a comment-preserving document, and YAML errors worded like Go's yaml.v3.

Owns the ruamel round-trip settings that reproduce the server's yaml.v3 output (indent 2,
sequences indented under their key, quotes kept), comment de-indentation, the conversion of
round-trip nodes to plain Python data, and the translation of parser errors to libyaml text.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.scanner import ScannerError

_LIBYAML_PROBLEMS = (
    ("expected ',' or ']'", "did not find expected ',' or ']'"),
    ("expected ',' or '}'", "did not find expected ',' or '}'"),
    ("expected <block end>", "did not find expected key"),
    ("mapping values are not allowed here", "mapping values are not allowed in this context"),
    ("that cannot start any token", "found character that cannot start any token"),
    ("could not find expected ':'", "could not find expected ':'"),
    ("found unexpected end of stream", "found unexpected end of stream"),
    ("expected <document start>", "did not find expected <document start>"),
    ("expected the node content", "did not find expected node content"),
)


class YamlSyntaxError(Exception):
    """The text is not YAML; ``str()`` is the message yaml.v3 would give, ``yaml: ...``."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 1 << 20
    return yaml


def load(text: str) -> Any:
    """Parse ``text`` into a round-trip document; raises :class:`YamlSyntaxError`."""
    try:
        return _yaml().load(text)
    except DuplicateKeyError as exc:
        raise YamlSyntaxError(_duplicate_message(exc)) from None
    except MarkedYAMLError as exc:
        raise YamlSyntaxError(_syntax_message(exc)) from None
    except (ValueError, KeyError, TypeError) as exc:
        # A scalar its tag cannot hold (``!!int abc``, ``2020-02-30``): yaml.v3 cannot decode it.
        raise YamlSyntaxError(f"yaml: cannot decode a value: {exc}") from None


def dump(document: Any) -> str:
    """Serialise a round-trip document the way the server re-encodes config.yaml."""
    if document is None:
        return ""
    out = io.StringIO()
    _yaml().dump(document, out)
    return deindent_comments(out.getvalue())


def deindent_comments(text: str) -> str:
    """Strip leading whitespace from every comment line (``NormalizeCommentIndentation``)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        stripped = line.lstrip(" \t")
        if stripped.startswith("#") and stripped != line:
            lines[index] = stripped
    return "\n".join(lines)


def styled_like(old: Any, new: str) -> str:
    """``new`` as a scalar quoted the way ``old`` was."""
    styled: str = new
    if isinstance(old, DoubleQuotedScalarString):
        styled = DoubleQuotedScalarString(new)
    elif isinstance(old, SingleQuotedScalarString):
        styled = SingleQuotedScalarString(new)
    return styled


def to_plain(node: Any) -> Any:
    """Round-trip nodes as plain dicts, lists, str, int, float, bool and None."""
    if isinstance(node, Mapping):
        return {str(key): to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [to_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def _syntax_message(exc: MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "unknown problem parsing YAML content"
    for needle, libyaml in _LIBYAML_PROBLEMS:
        if needle in problem:
            problem = libyaml
            break
    scanner = isinstance(exc, ScannerError)
    line = 0
    for mark in (exc.context_mark, exc.problem_mark):
        if mark is not None and mark.line != 0:
            line = mark.line + (1 if scanner else 0)
            break
    where = f"line {line}: " if line else ""
    return f"yaml: {where}{problem}"


def _duplicate_message(exc: DuplicateKeyError) -> str:
    key = str(exc.problem).split('"')[1] if '"' in str(exc.problem) else "?"
    first = exc.context_mark.line + 1 if exc.context_mark is not None else 0
    again = exc.problem_mark.line + 1 if exc.problem_mark is not None else 0
    detail = f'line {again}: mapping key "{key}" already defined at line {first}'
    return f"yaml: unmarshal errors:\n  {detail}"
