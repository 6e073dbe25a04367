"""The YAML wrapper: plain data, line numbers per path, safe loading, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired.yaml_io import MAX_DEPTH, format_path, parse_yaml, read_yaml
from reconciler.errors import DesiredStateError


def test_plain_data_with_yaml_1_2_scalars() -> None:
    doc = parse_yaml(
        "a: yes\nb: 0o17\nc: 2024-01-01\nd: ~\ne: 1.5\nf: true\ng: '7'\nh: 0x1F\n", name="x"
    )
    assert doc.data == {
        "a": "yes",
        "b": 15,
        "c": "2024-01-01",
        "d": None,
        "e": 1.5,
        "f": True,
        "g": "7",
        "h": 31,
    }
    assert type(doc.data) is dict
    assert type(doc.data["b"]) is int
    assert type(doc.data["a"]) is str


def test_lines_per_path() -> None:
    text = "top:\n  list:\n    - a\n    -\n      k: v\n  flow: {x: 1, y: [2, 3]}\n"
    doc = parse_yaml(text, name="x")
    assert doc.line_of(()) == 1
    assert doc.line_of(("top",)) == 1
    assert doc.line_of(("top", "list")) == 2
    assert doc.line_of(("top", "list", 0)) == 3
    assert doc.line_of(("top", "list", 1, "k")) == 5
    assert doc.line_of(("top", "flow", "y", 1)) == 6
    # Unknown tails fall back to the nearest written ancestor.
    assert doc.line_of(("top", "list", 1, "k", "str")) == 5
    assert doc.line_of(("nowhere",)) == 1


def test_empty_document() -> None:
    assert parse_yaml("", name="x").data is None
    assert parse_yaml("# only a comment\n", name="x").data is None


def test_aliases_and_merge_keys_give_independent_copies() -> None:
    doc = parse_yaml("base: &b {k: 1, j: 2}\nuse: *b\nmerged:\n  <<: *b\n  j: 3\n", name="x")
    assert doc.data == {
        "base": {"k": 1, "j": 2},
        "use": {"k": 1, "j": 2},
        "merged": {"k": 1, "j": 3},
    }
    assert doc.data["use"] is not doc.data["base"]
    assert doc.line_of(("merged", "j")) == 5


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: [1,\n", 3, "YAML syntax error"),
        ("a: 1\na: 2\n", 2, "duplicate key 'a'"),
        ("a: !!python/name:os.system x\n", 1, "unsupported tag !!python/name:os.system"),
        ("a: !custom x\n", 1, "unsupported tag !custom"),
        ("a: !!binary aGk=\n", 1, "unsupported tag !!binary"),
        ("a: !!set {x}\n", 1, "unsupported tag !!set"),
        ("a: &r [*r]\n", 1, "recursive alias"),
        ("? [1]\n: 2\n", 1, "a mapping key must be a scalar"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("a: 1\nb: \x07\n", 2, "unacceptable character"),
        ("a: !!int x\n", 1, "invalid int value"),
        ("a: !!int\n", 1, "invalid int value"),
        ("a: !!bool maybe\n", 1, "invalid bool value"),
        ("a: !!float ''\n", 1, "invalid float value"),
    ],
)
def test_errors_have_lines(text: str, line: int, message: str) -> None:
    with pytest.raises(DesiredStateError) as caught:
        parse_yaml(text, name="f.yaml")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"f.yaml:{line}: ")
    assert message in str(caught.value)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(DesiredStateError, match="too large once aliases are expanded"):
        parse_yaml("\n".join(lines) + "\n", name="bomb.yaml")


def test_deep_nesting_is_refused() -> None:
    text = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    with pytest.raises(DesiredStateError, match="maximum depth"):
        parse_yaml(text, name="deep.yaml")


def test_read_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_yaml(path).data == {"a": 1}
    path.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(DesiredStateError, match=r"c.yaml:2: not valid UTF-8"):
        read_yaml(path)
    with pytest.raises(DesiredStateError, match="file not found"):
        read_yaml(tmp_path / "missing.yaml")
    with pytest.raises(DesiredStateError, match="is a directory"):
        read_yaml(tmp_path, name="dir")


def test_format_path() -> None:
    assert format_path(("auth-files", "files", 0, "name")) == "auth-files.files[0].name"
    assert format_path(("api-keys", 3)) == "api-keys[3]"
    assert format_path(()) == "(top level)"


@pytest.mark.parametrize(
    ("text", "line", "example"),
    [
        ("config:\n  api-keys: [${env:K1}, x]\n", 2, "${env:K1}"),
        ("config:\n  x:\n    y: {key: ${file:/run/secrets/k}}\n", 3, "${file:/run/secrets/k}"),
        ("a: [b, ${env:K}]\n", 1, "${env:K}"),
        ("a: [${env:K x]\n", 1, "${env:NAME}"),  # not a reference it can show: a generic one
    ],
)
def test_an_unquoted_reference_in_a_flow_collection_gets_a_hint(
    text: str, line: int, example: str
) -> None:
    """YAML reads the ``{`` of ``${`` inside [...] or {...} as a mapping: say to quote it."""
    with pytest.raises(DesiredStateError) as caught:
        parse_yaml(text, name="f.yaml")
    message = str(caught.value)
    assert message.startswith(f"f.yaml:{line}: YAML syntax error: ")
    assert message.endswith(
        f'; inside [...] or {{...}} a reference must be quoted: write "{example}"'
    )
    quoted = text.replace(example, f'"{example}"') if example != "${env:NAME}" else None
    if quoted is not None:
        assert parse_yaml(quoted, name="f.yaml").data is not None


def test_other_syntax_errors_get_no_reference_hint() -> None:
    with pytest.raises(DesiredStateError) as caught:
        parse_yaml("a: [b, {]\nc: ${env:K}\n", name="f.yaml")
    assert "quoted" not in str(caught.value)
