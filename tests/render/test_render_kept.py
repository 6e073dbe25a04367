"""Files prune keeps because they match ``protect``: one ``=`` line in text and Markdown, a
``kept`` list in the JSON (format 1.1), never a change."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core.plan import Action, Plan
from reconciler.output import plan_json, render
from reconciler.pipeline import planfile

TARGET = "http://127.0.0.1:8317"
STALE = Action("auth-file", "stale.json", "delete", "not in the desired state (prune)")
WITH_DELETE = Plan(actions=(STALE,), kept=("keep-legacy.json",))
KEPT_ONLY = Plan(kept=("keep-a.json", "keep-legacy.json"))


def test_text_shows_the_kept_line_after_the_actions() -> None:
    text = render.render_text(WITH_DELETE, target=TARGET)
    assert text == (
        "Plan for http://127.0.0.1:8317\n"
        "\n"
        "  - auth-file stale.json  (not in the desired state (prune))\n"
        "  = auth-file keep-legacy.json (protected, not pruned)\n"
        "\n"
        "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete.\n"
    )


def test_kept_only_is_no_change_but_still_shown() -> None:
    assert not KEPT_ONLY.has_changes
    text = render.render_text(KEPT_ONLY)
    assert text == (
        "Plan\n"
        "\n"
        "  = auth-file keep-a.json (protected, not pruned)\n"
        "  = auth-file keep-legacy.json (protected, not pruned)\n"
        "\n"
        "No changes. Live state matches the desired state.\n"
    )


def test_markdown_lists_the_kept_files() -> None:
    md = render.render_markdown(WITH_DELETE, target=TARGET)
    assert md.endswith("**Kept**\n\n- `=` auth-file keep-legacy.json (protected, not pruned)\n")
    assert "| `-` delete | auth-file/stale.json |" in md
    assert "keep-legacy.json" not in md.split("**Kept**")[0], "a kept file is not an action"


def test_markdown_of_a_kept_only_plan_says_no_changes() -> None:
    md = render.render_markdown(KEPT_ONLY)
    assert "**No changes. Live state matches the desired state.**" in md
    assert "<details>" not in md and "| Action |" not in md
    assert md.count("(protected, not pruned)") == 2


def test_control_characters_in_a_kept_name_are_escaped() -> None:
    text = render.render_text(Plan(kept=("keep-\x1b[31m.json",)))
    assert "\x1b" not in text and "keep-\\x1b[31m.json" in text


def test_json_has_a_kept_list_and_count_and_reads_back(tmp_path: Path) -> None:
    doc = plan_json.plan_to_json(WITH_DELETE, fingerprint_key=b"k", meta={"target": TARGET})
    assert doc["format_version"] == "1.1"
    assert doc["kept"] == [
        {
            "address": "auth-file/keep-legacy.json",
            "kind": "auth-file",
            "name": "keep-legacy.json",
            "reason": "protected, not pruned",
        }
    ]
    assert doc["summary"]["kept"] == 1 and doc["summary"]["delete"] == 1
    assert [r["address"] for r in doc["resource_changes"]] == ["auth-file/stale.json"]
    empty = plan_json.plan_to_json(KEPT_ONLY, fingerprint_key=b"k", meta={"target": TARGET})
    assert empty["summary"]["has_changes"] is False and empty["resource_changes"] == []
    path = tmp_path / "plan.json"
    planfile.write_plan_file(path, doc)
    assert planfile.read_plan_file(path)["kept"] == doc["kept"]


def test_a_1_0_plan_file_without_kept_is_still_read(tmp_path: Path) -> None:
    """The compatibility rule: 1.1 only adds keys, so a 1.0 file (no ``kept``) still reads."""
    doc = plan_json.plan_to_json(WITH_DELETE, fingerprint_key=b"k", meta={"target": TARGET})
    old = {k: v for k, v in doc.items() if k != "kept"} | {"format_version": "1.0"}
    old["summary"] = {k: v for k, v in doc["summary"].items() if k != "kept"}
    path = tmp_path / "old.json"
    planfile.write_plan_file(path, old)
    assert planfile.read_plan_file(path)["format_version"] == "1.0"


def test_the_documented_example_has_the_keys_and_version_the_code_writes() -> None:
    """docs/plan-format.md's example is a document of the version this code writes."""
    text = (Path(__file__).parents[2] / "docs" / "plan-format.md").read_text(encoding="utf-8")
    example = json.loads(text.split("```json\n", 1)[1].split("\n```", 1)[0])
    doc = plan_json.plan_to_json(WITH_DELETE, fingerprint_key=b"k", meta={"target": TARGET})
    assert list(example) == list(doc)
    assert list(example["summary"]) == list(doc["summary"])
    assert example["format_version"] == plan_json.FORMAT_VERSION
    assert example["kept"][0].keys() == doc["kept"][0].keys()
