"""``yaml_io.read_yaml(on_section=...)``: each top-level key is told as it is read, and again
with its mapping once that is read, while the rest of the document is still being read (what
``plan`` starts its reads from); the document itself is the same either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import yaml_io
from reconciler.errors import DesiredStateError

TEXT = """\
target:
  url: http://127.0.0.1:8317
  management-key: ${env:CPA_MANAGEMENT_KEY}
config:
  debug: false
  api-keys: [a, b]
note: a scalar section
auth-files:
  files:
    - name: codex-a@example.com.json
"""


def _told(text: str, tmp_path: Path) -> tuple[list[tuple[str, Any]], yaml_io.YamlDocument]:
    path = tmp_path / "desired.yaml"
    path.write_text(text, encoding="utf-8")
    told: list[tuple[str, Any]] = []
    document = yaml_io.read_yaml(path, on_section=lambda k, v: told.append((k, v)))
    return told, document


def test_sections_are_told_in_order_as_they_are_read(tmp_path: Path) -> None:
    told, document = _told(TEXT, tmp_path)
    assert told == [
        ("target", None),
        ("target", {"url": "http://127.0.0.1:8317", "management-key": "${env:CPA_MANAGEMENT_KEY}"}),
        ("config", None),
        ("config", {"debug": False, "api-keys": ["a", "b"]}),
        ("note", None),  # a scalar: told at its key only
        ("auth-files", None),
        ("auth-files", document.data["auth-files"]),
    ]
    assert document.data == yaml_io.read_yaml(tmp_path / "desired.yaml").data
    assert document.line_of(("config", "debug")) == 5


def test_a_section_is_told_before_a_later_error_fails_the_read(tmp_path: Path) -> None:
    """A hint, not the document: the read still fails on what comes after."""
    told: list[str] = []
    path = tmp_path / "desired.yaml"
    path.write_text(TEXT + "target: again\n", encoding="utf-8")
    with pytest.raises(DesiredStateError, match="target"):
        yaml_io.read_yaml(path, on_section=lambda k, v: told.append(k))
    assert told[:2] == ["target", "target"]
