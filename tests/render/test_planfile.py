"""The plan file: round trip, mode 0600, atomic write, and every way reading can fail."""

from __future__ import annotations

import json
import os
import stat

import pytest

from reconciler.errors import PlanFileError
from reconciler.output import plan_json
from reconciler.pipeline import planfile

META = {
    "target": {"url": "http://127.0.0.1:8317", "server_version": "7.2.140"},
    "desired_fingerprint": "hmac-sha256:aaaaaaaaaaaaaaaa",
    "live_fingerprint": "hmac-sha256:bbbbbbbbbbbbbbbb",
    "created_at": "2025-01-02T03:04:05Z",
}


@pytest.fixture
def doc(full_plan):
    return plan_json.plan_to_json(full_plan, fingerprint_key=b"k", meta=dict(META))


def _write_json(path, value):
    path.write_text(json.dumps(value))
    return path


def test_round_trip(tmp_path, doc):
    """What is written is read back unchanged."""
    path = tmp_path / "plan.json"
    planfile.write_plan_file(path, doc)
    assert planfile.read_plan_file(path) == doc
    assert planfile.read_plan_file(str(path)) == doc


def test_mode_is_0600_even_over_a_readable_file(tmp_path, doc):
    """The file is private to its owner, also when it replaces a world-readable one."""
    path = tmp_path / "plan.json"
    path.write_text("{}")
    path.chmod(0o644)
    planfile.write_plan_file(path, doc)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_leaves_no_temporary_file(tmp_path, doc):
    """The temporary file is renamed into place: only the plan remains."""
    planfile.write_plan_file(tmp_path / "plan.json", doc)
    assert os.listdir(tmp_path) == ["plan.json"]


def test_write_into_a_missing_directory_fails_cleanly(tmp_path, doc):
    """An unwritable place is a PlanFileError naming the file."""
    path = tmp_path / "missing" / "plan.json"
    with pytest.raises(PlanFileError, match=f"plan file {path} cannot be written"):
        planfile.write_plan_file(path, doc)


def test_write_refuses_what_is_not_a_plan(tmp_path):
    """Only plan documents are written."""
    with pytest.raises(PlanFileError, match="is not a cpa-reconciler plan"):
        planfile.write_plan_file(tmp_path / "plan.json", {"hello": "world"})
    assert not (tmp_path / "plan.json").exists()


def test_newer_minor_version_with_unknown_keys_is_read(tmp_path, doc):
    """Same major version: accepted, unknown keys kept but ignored."""
    newer = {**doc, "format_version": "1.7", "drift": [], "future": {"x": 1}}
    assert planfile.read_plan_file(_write_json(tmp_path / "p.json", newer))["future"] == {"x": 1}


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(PlanFileError, match=f"^plan file {path} does not exist$"):
        planfile.read_plan_file(path)


def test_unreadable_file(tmp_path):
    """A directory stands in for an unreadable file (root can read any mode)."""
    with pytest.raises(PlanFileError, match=f"^plan file {tmp_path} cannot be read: "):
        planfile.read_plan_file(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not JSON: Expecting property name enclosed in double quotes at line 1"),
        (b"", "is not JSON: Expecting value at line 1 column 1"),
        (b"\xff\xfe{}", "is not JSON: it is not UTF-8 text"),
    ],
)
def test_not_json(tmp_path, content, message):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(PlanFileError, match=f"^plan file {path} {message}"):
        planfile.read_plan_file(path)


def test_wrong_major_version(tmp_path, doc):
    """Another major version is refused with the versions named."""
    path = _write_json(tmp_path / "p.json", {**doc, "format_version": "2.0"})
    with pytest.raises(
        PlanFileError, match=f"^plan file {path} has format version 2.0; .* reads format 1.x only"
    ):
        planfile.read_plan_file(path)


def _without(doc, key):
    return {k: v for k, v in doc.items() if k != key}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: [d], "it is not a JSON object"),
        (lambda d: {**d, "tool": {"name": "terraform"}}, 'its "tool.name" is not "cpa-reconciler"'),
        (lambda d: _without(d, "tool"), 'its "tool.name" is not "cpa-reconciler"'),
        (lambda d: _without(d, "format_version"), 'it has no valid "format_version"'),
        (lambda d: {**d, "format_version": "1"}, 'it has no valid "format_version"'),
        (lambda d: {**d, "format_version": 1.0}, 'it has no valid "format_version"'),
        (lambda d: _without(d, "live_fingerprint"), 'the key "live_fingerprint" is missing'),
        (lambda d: {**d, "resource_changes": {}}, 'the key "resource_changes" has the wrong type'),
    ],
)
def test_not_a_plan(tmp_path, doc, change, why):
    """JSON that is not one of our plans (e.g. a Terraform plan, also format 1.x)."""
    path = _write_json(tmp_path / "p.json", change(doc))
    with pytest.raises(PlanFileError) as info:
        planfile.read_plan_file(path)
    assert str(info.value) == f"plan file {path} is not a cpa-reconciler plan: {why}"
