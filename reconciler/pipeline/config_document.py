"""The live config.yaml as a document: parse it, and rewrite it with the plan's writes.

The only place the live config text is edited. The rewrite round-trips the *live* document
with ruamel.yaml, so its comments, key order, quoting and every key the plan does not own
survive; the result is what ``PUT /config.yaml`` sends.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler import errors
from reconciler.core.changes import Write, apply_writes
from reconciler.core.normalize import MISSING
from reconciler.desired import yaml_io

ENDPOINT = "GET /v0/management/config.yaml"


def _round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _safe_constructor() -> Any:
    return YAML(typ="safe", pure=True).constructor


def parse(text: str) -> dict[str, Any]:
    """The live config as plain data; an empty file is an empty mapping.

    Composed within the desired file's bounds (``yaml_io.compose``: nesting depth, and the size
    once aliases are expanded, checked before anything is built), so a hostile or broken
    server's alias bomb is refused in the time it takes to read it, and deep nesting cannot
    overflow the C stack. Built by ruamel's safe constructor, as ``YAML(typ="safe")`` loads it.

    An error names the line and the problem but never quotes the text: config.yaml holds
    secrets, and ruamel's own messages show the offending line (and a duplicate key's values).
    """
    plain = yaml_io.safe_data(text)  # a plain document, straight from libyaml's events
    try:
        if plain is not None:
            data = plain[0]
        else:
            root = yaml_io.compose(text)  # libyaml's events when installed
            data = None if root is None else _safe_constructor().construct_document(root)
    except yaml_io.ExpansionError as exc:
        line = exc.node.start_mark.line + 1
        raise errors.ApiError(
            f"{ENDPOINT}: the server's config.yaml is refused at line {line}: "
            f"{str(exc).removeprefix('YAML: ')}"
        ) from None
    except (YAMLError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise errors.ApiError(
            f"{ENDPOINT}: the server's config.yaml is not valid YAML{_yaml_problem(exc)}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.ApiError(f"{ENDPOINT}: the server's config.yaml is not a mapping")
    return data


def _yaml_problem(exc: Exception) -> str:
    """`` at line N: <problem>`` without any of the document's text."""
    if not isinstance(exc, MarkedYAMLError):
        return ": a value does not match its type or tag"
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}" if mark is not None else ""
    if isinstance(exc, MaxDepthExceededError):
        return f"{where}: nested more than {yaml_io.MAX_DEPTH} levels deep"
    if isinstance(exc, DuplicateKeyError):
        return f"{where}: a key appears twice in one mapping"
    if isinstance(exc, ConstructorError):
        return f"{where}: a value does not match its type or tag"
    problem = exc.problem or "invalid syntax"
    if exc.context and exc.context_mark is not None:
        problem += f" ({exc.context}, from line {exc.context_mark.line + 1})"
    return f"{where}: {problem}"


def rewrite(text: str, writes: Iterable[Write]) -> str:
    """``text`` with ``writes`` performed, everything else kept as it was."""
    yaml = _round_trip()
    doc = yaml.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    writes = list(writes)
    reattach = [r for w in writes if (r := _detach_comments(doc, w)) is not None]
    apply_writes(doc, [Write(w.path, _plain_to_yaml(w.value)) for w in writes])
    for parent, key, token in reattach:
        if key in parent:
            _attach_trailing(parent, key, token)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _detach_comments(doc: CommentedMap, write: Write) -> tuple[Any, str, Any] | None:
    """Take the comment lines that trail a value about to be replaced or deleted.

    ruamel keeps the comment lines *after* a value (often the heading of the next key) on the
    value's last element, so replacing or deleting the value would drop them. Returns where to
    put them back once the writes are done: the same key (replacement) or the key before it
    (deletion).
    """
    parent: Any = doc
    for key in write.path[:-1]:
        parent = parent.get(str(key)) if isinstance(parent, CommentedMap) else None
    key = str(write.path[-1])
    if not isinstance(parent, CommentedMap) or key not in parent:
        return None
    token = _pop_trailing(parent, key)
    if token is None:
        return None
    if write.value is not MISSING:
        return (parent, key, token)
    keys = list(parent.keys())
    i = keys.index(key)
    return (parent, keys[i - 1], token) if i > 0 else None


def _pop_trailing(container: Any, key: Any) -> Any:
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value):
        last = list(value.keys())[-1] if isinstance(value, CommentedMap) else len(value) - 1
        return _pop_trailing(value, last)
    item = container.ca.items.get(key)
    if not item:
        return None
    pos = 2 if isinstance(container, CommentedMap) else 0
    token = item[pos] if len(item) > pos else None
    if token is not None:
        item[pos] = None
    return token


def _attach_trailing(container: Any, key: Any, token: Any) -> None:
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value):
        last = list(value.keys())[-1] if isinstance(value, CommentedMap) else len(value) - 1
        _attach_trailing(value, last, token)
        return
    pos = 2 if isinstance(container, CommentedMap) else 0
    item = container.ca.items.setdefault(
        key, [None, None, None, None] if pos == 2 else [None, None]
    )
    item[pos] = token


def _plain_to_yaml(value: Any) -> Any:
    """Desired values are plain dicts/lists; block style keeps the file in CPA's own shape."""
    if isinstance(value, dict):
        m = CommentedMap()
        for k, v in value.items():
            m[k] = _plain_to_yaml(v)
        return m
    if isinstance(value, list):
        return CommentedSeq(_plain_to_yaml(v) for v in value)
    return value
