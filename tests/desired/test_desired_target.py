"""Where CPA is and which key to use: flag > environment > desired-state file."""

from __future__ import annotations

from pathlib import Path

import pytest
from desired_helpers import Project

from reconciler.desired.loader import LoadedDesired, resolve_target
from reconciler.errors import UsageError

FILE_TARGET = """
target:
  url: http://file:8317
  management-key: ${env:FROM_FILE}
"""


@pytest.fixture
def loaded(project: Project) -> LoadedDesired:
    return project.load(FILE_TARGET, environ={"FROM_FILE": "file-key"})


def test_file_values_when_nothing_else_is_given(loaded: LoadedDesired) -> None:
    assert resolve_target(loaded, environ={}) == ("http://file:8317", "file-key")


def test_environment_beats_file(loaded: LoadedDesired) -> None:
    environ = {"CPA_URL": "https://env:8317", "CPA_MANAGEMENT_KEY": "env-key"}
    assert resolve_target(loaded, environ=environ) == ("https://env:8317", "env-key")


def test_flags_beat_environment(loaded: LoadedDesired, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("flag-key\n", encoding="utf-8")
    environ = {"CPA_URL": "https://env:8317", "CPA_MANAGEMENT_KEY": "env-key"}
    got = resolve_target(loaded, url="http://flag:1", key_file=key_file, environ=environ)
    assert got == ("http://flag:1", "flag-key")


def test_key_file_strips_one_trailing_newline_only(loaded: LoadedDesired, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k \r\n", encoding="utf-8")
    assert resolve_target(loaded, key_file=str(key_file), environ={})[1] == "k "
    key_file.write_text("k\n\n", encoding="utf-8")
    assert resolve_target(loaded, key_file=key_file, environ={})[1] == "k\n"


def test_empty_environment_variables_count_as_unset(loaded: LoadedDesired) -> None:
    environ = {"CPA_URL": "", "CPA_MANAGEMENT_KEY": ""}
    assert resolve_target(loaded, environ=environ) == ("http://file:8317", "file-key")


def test_without_a_desired_file(tmp_path: Path) -> None:
    environ = {"CPA_URL": "http://env:1", "CPA_MANAGEMENT_KEY": "k"}
    assert resolve_target(None, environ=environ) == ("http://env:1", "k")


def test_missing_url(project: Project) -> None:
    loaded = project.load("config: {}\n")
    with pytest.raises(UsageError, match=r"no CPA URL: set target\.url .*CPA_URL or --url"):
        resolve_target(loaded, environ={"CPA_MANAGEMENT_KEY": "k"})


def test_missing_key(project: Project) -> None:
    loaded = project.load("target: {url: 'http://x:1'}\n")
    with pytest.raises(UsageError, match="no management key") as caught:
        resolve_target(loaded, environ={})
    assert "CPA_MANAGEMENT_KEY" in str(caught.value)


def test_bad_url_names_where_it_came_from(loaded: LoadedDesired) -> None:
    with pytest.raises(UsageError, match=r"^CPA_URL: expected an http:// or https:// URL$"):
        resolve_target(loaded, environ={"CPA_URL": "ftp://x"})
    with pytest.raises(UsageError, match=r"^--url: expected"):
        resolve_target(loaded, url="localhost:8317", environ={})


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "the file does not exist"), ("\n", "the file is empty"), (b"\xff", "not UTF-8")],
)
def test_bad_key_files(
    loaded: LoadedDesired, tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    key_file = tmp_path / "key"
    if isinstance(content, bytes):
        key_file.write_bytes(content)
    elif content is not None:
        key_file.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=f"^--management-key-file {key_file}: .*{message}"):
        resolve_target(loaded, key_file=key_file, environ={})
