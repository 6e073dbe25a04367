"""Reference syntax and resolution: ${env:NAME}, ${file:PATH}, $${ escapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.desired.references import (
    Reference,
    ReferenceSyntaxError,
    escape,
    parse_template,
    resolve,
)
from reconciler.desired.yaml_io import parse_yaml
from reconciler.errors import ReferenceError_


def test_plain_text_is_one_literal() -> None:
    assert parse_template("no references here") == ("no references here",)
    assert parse_template("$5 and $$ and $ {x}") == ("$5 and $$ and $ {x}",)


def test_whole_value_reference() -> None:
    assert parse_template("${env:CPA_KEY}") == (Reference("env", "CPA_KEY"),)
    assert parse_template("${file:secrets/a b.txt}") == (Reference("file", "secrets/a b.txt"),)


def test_several_references_inside_a_string() -> None:
    assert parse_template("socks5://${env:USER}:${file:pw}@host") == (
        "socks5://",
        Reference("env", "USER"),
        ":",
        Reference("file", "pw"),
        "@host",
    )


def test_escape_is_a_literal() -> None:
    assert parse_template("$${env:X}") == ("${env:X}",)
    assert parse_template("a$${b}${env:C}") == ("a${b}", Reference("env", "C"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${env:X", "unterminated reference"),
        ("${}", "invalid reference '${...}'"),
        ("${vault:a/b}", "invalid reference '${vault:...}'"),
        ("${env:}", "invalid reference '${env:...}'"),
        ("${env:A-B}", "invalid reference '${env:...}'"),
        ("${file:}", "the path is empty"),
        ("${file:${env:X}}", "nested references are not supported"),
    ],
)
def test_invalid_references(text: str, message: str) -> None:
    with pytest.raises(ReferenceSyntaxError, match=message.replace("$", r"\$").replace("{", r"\{")):
        parse_template(text)


@given(st.text(alphabet=st.sampled_from("ab$${}:\n"), max_size=30))
def test_escaped_text_resolves_to_itself(text: str) -> None:
    segments = parse_template(escape(text))
    assert all(isinstance(segment, str) for segment in segments)
    assert "".join(str(segment) for segment in segments) == text


def _doc(text: str):  # type: ignore[no-untyped-def]
    return parse_yaml(text, name="d.yaml")


def _no_files(path: str) -> str:
    raise FileNotFoundError(2, "No such file or directory", path)


def test_resolve_records_paths_and_keeps_other_values() -> None:
    doc = _doc("a: ${env:A}\nb: [1, 'x-${env:A}', '$${lit}']\nc: {d: true, '${env:A}': k}\n")
    result = resolve(doc.data, environ={"A": "va"}, read_file=_no_files, document=doc)
    assert result.data == {"a": "va", "b": [1, "x-va", "${lit}"], "c": {"d": True, "${env:A}": "k"}}
    assert dict(result.sources) == {("a",): "${env:A}", ("b", 1): "x-${env:A}"}


def test_resolve_leaves_the_input_unchanged() -> None:
    doc = _doc("a: ['${env:A}']\n")
    resolve(doc.data, environ={"A": "va"}, read_file=_no_files, document=doc)
    assert doc.data == {"a": ["${env:A}"]}


def test_file_reference_strips_one_trailing_newline_and_is_read_once() -> None:
    reads: list[str] = []

    def read(path: str) -> str:
        reads.append(path)
        return {"one": "v1\n", "two": "v2\n\n", "crlf": "v3\r\n", "none": "v4"}[path]

    doc = _doc("a: ${file:one}\nb: ${file:two}\nc: ${file:crlf}\nd: ${file:none}${file:one}\n")
    result = resolve(doc.data, environ={}, read_file=read, document=doc)
    assert result.data == {"a": "v1", "b": "v2\n", "c": "v3", "d": "v4v1"}
    assert sorted(reads) == ["crlf", "none", "one", "two"]


def test_empty_environment_value_is_set() -> None:
    doc = _doc("a: ${env:EMPTY}\n")
    result = resolve(doc.data, environ={"EMPTY": ""}, read_file=_no_files, document=doc)
    assert result.data == {"a": ""}


def test_errors_name_file_line_and_path_never_the_value() -> None:
    doc = _doc("a: 1\nb:\n  - ok\n  - ${env:SET}${env:UNSET}\n")
    with pytest.raises(ReferenceError_) as caught:
        resolve(doc.data, environ={"SET": "S3CRET"}, read_file=_no_files, document=doc)
    assert str(caught.value) == "d.yaml:4: b[1]: ${env:UNSET} is not set"
    assert caught.value.line == 4


def test_unreadable_and_undecodable_files() -> None:
    def read(path: str) -> str:
        if path == "dir":
            raise IsADirectoryError(21, "Is a directory", path)
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    doc = _doc("a: ${file:dir}\n")
    with pytest.raises(
        ReferenceError_,
        match=r"d.yaml:1: a: \$\{file:dir\}: the file cannot be read \(Is a directory\)",
    ):
        resolve(doc.data, environ={}, read_file=read, document=doc)
    doc = _doc("a: ${file:bin}\n")
    with pytest.raises(ReferenceError_, match="not valid UTF-8"):
        resolve(doc.data, environ={}, read_file=read, document=doc)


def test_start_places_errors_inside_the_document() -> None:
    doc = _doc("config:\n  k: ${env:NOPE}\n")
    with pytest.raises(ReferenceError_, match=r"^d.yaml:2: config.k: "):
        resolve(
            doc.data["config"], environ={}, read_file=_no_files, document=doc, start=("config",)
        )
