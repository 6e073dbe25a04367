"""libyaml composes documents; the pure-Python parser must give the very same answer.

``parse_yaml`` builds plain documents straight from libyaml's events, composes the others from
those events into a node tree, and lets the pure parser decide whenever libyaml is unsure. These tests hold the two paths to one answer: the same data, the same line
for every path, the same error message and line, over every YAML file in the repository, a table
of edge cases, and generated documents.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.desired.yaml_io import (
    MAX_DEPTH,
    _build_libyaml,
    _compose_libyaml,
    compose,
    parse_yaml,
    safe_data,
)
from reconciler.errors import DesiredStateError

ROOT = Path(__file__).resolve().parents[2]
FUZZ_EXAMPLES = int(os.environ.get("YAML_FUZZ_EXAMPLES", "300"))
"""Generated documents per property; a deeper search: YAML_FUZZ_EXAMPLES=20000."""


def outcome(text: str, *, libyaml: bool) -> tuple[Any, ...]:
    """What parse_yaml answers: data and lines, or the error's message and line."""
    try:
        doc = parse_yaml(text, name="doc.yaml", libyaml=libyaml)
    except DesiredStateError as exc:
        return ("error", str(exc), exc.line)
    return ("ok", doc.data, dict(doc.lines))


def assert_same(text: str) -> tuple[Any, ...]:
    fast = outcome(text, libyaml=True)
    pure = outcome(text, libyaml=False)
    assert fast == pure
    direct = _build_libyaml(text, "doc.yaml")  # when the event builder takes it, alike too
    if direct is not None:
        assert ("ok", direct.data, dict(direct.lines)) == pure
        # what the loader skips walking for: known from the events, checked here by a walk
        assert direct.string_keys == _all_keys_strings(direct.data)
        assert direct.dollar_paths == frozenset(_dollar_paths(direct.data, ()))
    assert_safe_data_same(text)
    return fast


def _all_keys_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _all_keys_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_keys_strings(item) for item in value)
    return True


def _dollar_paths(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """Every path (below the root) of a string value holding a ``$``."""
    if not isinstance(value, (dict, list)):
        return
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        if isinstance(item, str) and "$" in item:
            yield (*path, key)
        yield from _dollar_paths(item, (*path, key))


def assert_safe_data_same(text: str) -> None:
    """``safe_data`` (CPA's config.yaml, timestamps typed) builds what the node path builds."""
    plain = safe_data(text)
    if plain is None:
        return
    root = compose(text)
    constructor = YAML(typ="safe", pure=True).constructor
    assert plain[0] == (None if root is None else constructor.construct_document(root))


def repository_yaml() -> list[Path]:
    found = [
        path
        for pattern in ("*.yaml", "*.yml")
        for path in ROOT.rglob(pattern)
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    ]
    return sorted(found)


def test_the_repository_has_yaml_to_compare() -> None:
    assert len(repository_yaml()) >= 50


@pytest.mark.parametrize("path", repository_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_in_the_repository(path: Path) -> None:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        pytest.skip("not UTF-8: refused before parsing")
    assert_same(text)


EDGE_CASES = {
    "references where they may stand": (
        'k: ${env:A}\nl: [a, "${env:B}", {c: "x${file:f}y"}]\nm:\n  - n: $\n    "$k": v\n'
        "o: {p: [[q, 'r$']]}\n1: $1\n"
    ),
    "empty": "",
    "comment only": "# nothing\n",
    "document marker only": "---\n",
    "explicit end": "a: 1\n...\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "yaml 1.1 directive": "%YAML 1.1\n---\na: yes\nb: 010\n",
    "yaml 1.2 directive": "%YAML 1.2\n---\na: yes\n",
    "tag directive": "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "non-specific tag": "a: ! 12\nb: ! [1]\n",
    "explicit core tags": "a: !!str 12\nb: !!int '7'\nc: !!float 1\nd: !!null ''\ne: !!bool true\n",
    "bad explicit int": "a: !!int x\n",
    "unsupported tags": "a: !!binary aGk=\nb: !custom x\n",
    "python tag": "a: !!python/object:os.system x\n",
    "set and omap": "a: !!set {x}\nb: !!omap [{x: 1}]\n",
    "anchors and merges": "b: &b {k: 1, j: 2}\nu: *b\nm:\n  <<: [*b, {z: 3}]\n  j: 4\n",
    "merge of a scalar": "a: &a 1\nb:\n  <<: *a\n",
    "undefined alias": "a: *nope\n",
    "recursive alias": "a: &r [*r]\n",
    "duplicate anchors": "a: &x 1\nb: &x 2\nc: *x\n",
    "duplicate keys": "a: 1\nb: 2\na: 3\n",
    "complex key": "? [1, 2]\n: x\n",
    "null key": "~: 1\n",
    "int and bool keys": "1: a\ntrue: b\n",
    "timestamps stay text": "a: 2024-01-01\nb: 2024-01-01T10:00:00Z\n",
    "yaml 1.2 scalars": "a: yes\nb: 0o17\nc: 0x1F\nd: .inf\ne: -.nan\nf: 1e3\ng: 010\n",
    "block scalars": "a: |\n  one\n  two\nb: >-\n  folded\n  text\nc: x\n",
    "multi-line plain": "a: one\n  two\n  three\nb: 1\n",
    "quoted": "a: 'it''s'\nb: \"tab\\tand \\u00e9\"\nc: ''\n",
    "flow in block": "a: {x: [1, {y: 2}], z: []}\nb: [a, b, {}]\n",
    "compact sequences": "- - - a\n    - b\n  - c\n- d\n",
    "crlf": "a: 1\r\nb:\r\n  - x\r\n  - y\r\n",
    "unicode line breaks": "a: 1\u2028b: 2\nc: \x85d\n",
    "tab indentation": "a:\n\tb: 1\n",
    "control character": "a: 1\nb: \x07\n",
    "unterminated flow": "a: 1\nb: [1,\n",
    "unterminated quote": "a: 'x\nb: 2\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "scalar document": "just text\n",
    "list document": "- 1\n- two\n",
    "reference strings": "url: ${env:CPA_URL}\nkey: $${literal}\n",
    "very long key": "k" * 2000 + ": 1\n",
    "anchor on collection with later alias": "a: &l\n  - 1\n  - 2\nb: *l\nc: *l\n",
}


@pytest.mark.parametrize("text", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases(text: str) -> None:
    assert_same(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_nesting_around_the_limit(depth: int) -> None:
    assert_same("[" * depth + "]" * depth)
    block = (
        "".join(" " * (2 * level) + f"k{level}:\n" for level in range(depth))
        + " " * (2 * depth)
        + "v\n"
    )
    assert_same(block)


def test_very_deep_nesting_is_an_error_not_a_crash() -> None:
    # libyaml's own composer recurses in C: 100,000 levels overflowed its stack.
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(DesiredStateError, match="maximum depth"):
        parse_yaml(text, name="deep.yaml")


def test_a_large_file_is_composed_by_libyaml_to_the_same_answer() -> None:
    entries = "".join(
        f"    - name: f{i}.json\n      disabled: {str(i % 2 == 0).lower()}\n"
        f"      fields: {{priority: {i % 9}, note: 'team {i}'}}\n"
        for i in range(2_000)
    )
    text = "auth-files:\n  files:\n" + entries
    assert _compose_libyaml(text) is not None  # the fast path took it, to the end
    assert _build_libyaml(text, "doc.yaml") is not None  # and the event builder too
    kind, data, lines = assert_same(text)
    assert kind == "ok"
    assert len(data["auth-files"]["files"]) == 2_000
    assert lines[("auth-files", "files", 1_999, "fields", "note")] == 2 + 3 * 1_999 + 3


# -- generated documents --------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["yes", "No", "0o17", "010", "1e3", "~", "null", "2024-01-01", "0x1F", ""]),
)
keys = st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 99), st.booleans())
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=25,
)


def dumped(data: Any, flow: bool | None, width: int) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.width = width
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from([None, True, False]), st.sampled_from([20, 80, 4096]))
def test_generated_documents(data: Any, flow: bool | None, width: int) -> None:
    assert_same(dumped(data, flow, width))


# fmt: off
fragments = st.sampled_from(
    [
        "a", "b", "1", ":", ": ", " ", "  ", "\n", "- ", "-", "[", "]", "{", "}", ", ", "&x ",
        "*x", "!!str ", "!e ", "'", '"', " #c", "? ", "|\n", ">\n", "\t", "<<: ", "---\n",
        "...\n", "%YAML 1.2\n", "~", "yes", "0o7", "\\", "\n  ", "\n    ", "\n- ", "- - ",
        "k: ", "&a ", "*a", "!!int ", "!!map ", "!!seq ", "!!null ", "null", "'x'", '"a\\nb"',
        "|-\n  x\n", ">+\n  y\n", ",", "\u00e9", "\r\n",
    ]
)
# fmt: on


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fragments, max_size=30).map("".join))
def test_generated_text_valid_or_not(text: str) -> None:
    """Both accept with the same data and lines, or both refuse with the same error. The one
    difference allowed: a few texts the pure parser refuses although YAML allows them (blank
    lines of spaces inside a block scalar) are read by libyaml."""
    fast = outcome(text, libyaml=True)
    pure = outcome(text, libyaml=False)
    if fast[0] == "ok" and pure[0] == "error":
        return
    assert fast == pure


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # an anchor and an alias
        "base: &b {x: 1}\nother:\n  <<: *b\n",  # a merge key
        "a: !!str 5\n",  # an explicit tag
        "a: 1\na: 2\n",  # a key twice
        "? [1, 2]\n: v\n",  # a key that is a list
        "a: !!int x\n",  # a value its constructor refuses
    ],
)
def test_the_event_builder_leaves_what_it_does_not_handle_to_the_node_path(text: str) -> None:
    assert _build_libyaml(text, "doc.yaml") is None
    assert_same(text)


def test_the_event_builder_takes_a_plain_desired_state() -> None:
    text = (
        "target:\n  url: http://127.0.0.1:8317\n  management-key: ${env:K}\n"
        "config:\n  debug: false\n  api-keys: ['a', \"b\", c]\n  request-retry: 3\n"
        "auth-files:\n  prune: true\n  files:\n    - name: a.json\n      fields: {priority: 0}\n"
    )
    direct = _build_libyaml(text, "doc.yaml")
    assert direct is not None
    assert direct.data["config"]["api-keys"] == ["a", "b", "c"]
    assert direct.lines[("auth-files", "files", 0, "fields", "priority")] == 12
    assert_same(text)


def test_safe_data_types_timestamps_as_yaml_safe_does() -> None:
    text = "a: 2024-01-02\nb: 2024-01-02T03:04:05Z\nc: '2024-01-02'\nd: [1, yes, ~, 1.5]\n"
    plain = safe_data(text)
    assert plain is not None
    assert type(plain[0]["a"]).__name__ == "date" and type(plain[0]["b"]).__name__ == "datetime"
    assert plain[0]["c"] == "2024-01-02" and plain[0]["d"] == [1, "yes", None, 1.5]
    assert_safe_data_same(text)
    assert safe_data("a: 1\na: 2\n") is None  # a key twice: the node path says so
