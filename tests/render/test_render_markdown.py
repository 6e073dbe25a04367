"""The Markdown plan: title, summary, table, collapsed diff, blockers, unresolved; escaping."""

from __future__ import annotations

import re

from reconciler.core.changes import Change
from reconciler.core.plan import Action, Plan
from reconciler.output import render

TARGET = "http://127.0.0.1:8317"

DETAILS = """\
<details><summary>Changes</summary>

```diff
~ config.yaml
~     debug: false -> true
+     request-retry: 3
-     payload: {"default": [{"models": ["gpt-5"], "params": {"t": 0.2}}]}
+     api-keys[]: ***
-     api-keys[]: ***
~     remote-management.secret-key: *** (before) -> *** (after)
~     routing.strategy: "round-robin" -> "fill-first"
~     port: 8317 -> 8318
!     takes effect after a CPA restart: port
+ auth-file codex-alice.json  (missing on the server)
+     disabled: false
+     fields.priority: 5
~ auth-file claude-bob.json  (policy differs)
~     disabled: true -> false
~     fields.proxy_url: *** (before) -> "socks5://h:1080"
± auth-file gemini-x.json  (replace: source changed since the file was last seeded)
- auth-file old.json  (not in the desired state (prune))
```

</details>"""


def _sections(markdown: str) -> list[str]:
    return markdown.rstrip("\n").split("\n\n")


def test_title_and_summary(full_plan):
    """A level-3 title naming the tool, target and version; the summary in bold."""
    md = render.render_markdown(full_plan, target=TARGET, server_version="7.2.140")
    title, summary = _sections(md)[:2]
    assert title == "### cpa-reconciler: Plan for http://127.0.0.1:8317 (server version 7.2.140)"
    assert summary == (
        "**Plan: 1 to create, 2 to update, 1 to replace, 1 to delete. 1 unresolved item.** "
        "Blocked by 2 safety rules: nothing will be applied."
    )


def test_table_of_actions(full_plan):
    """One row per action in plan order: symbol and op, address, reason, change count."""
    md = render.render_markdown(full_plan)
    table = _sections(md)[2].splitlines()
    assert table == [
        "| Action | Resource | Reason | Changes |",
        "| --- | --- | --- | --- |",
        "| `~` update | config/config.yaml | config differs from the desired state "
        "| 8 (restart: port) |",
        "| `+` create | auth-file/codex-alice.json | missing on the server | 2 |",
        "| `~` update | auth-file/claude-bob.json | policy differs | 2 |",
        "| `±` replace | auth-file/gemini-x.json "
        "| source changed since the file was last seeded | 0 |",
        "| `-` delete | auth-file/old.json | not in the desired state (prune) | 0 |",
    ]


def test_changes_in_a_collapsed_diff_block(full_plan):
    """The changes, secrets masked, in a diff block (symbol in column 0) inside <details>."""
    md = render.render_markdown(full_plan)
    assert DETAILS in md
    assert md.index("<details>") > md.index("| --- |")


def test_blockers_and_unresolved_after_the_changes(full_plan):
    """Blockers with their override flag, then unresolved items, as bullet lists."""
    sections = _sections(render.render_markdown(full_plan))
    assert sections[-4:] == [
        "**Blocked (exit 4)**",
        "- re-seeding gemini-x.json from source overwrites the server's current tokens "
        "(override: `--allow-replace`)\n"
        "- auth file old.json matches a protect pattern",
        "**Unresolved**",
        "- auth file lost.json is missing on the server and has no source",
    ]


def test_empty_plan_has_no_table(empty_plan):
    """No changes: the title and the no-change line only."""
    assert render.render_markdown(empty_plan, target=TARGET) == (
        "### cpa-reconciler: Plan for http://127.0.0.1:8317\n"
        "\n"
        "**No changes. Live state matches the desired state.**\n"
    )


def test_names_are_escaped_and_fences_hold():
    """A hostile name cannot break the table or inject HTML; a value cannot close the fence."""
    plan = Plan(
        actions=(
            Action(
                "auth-file",
                "a|b<script>.json",
                "create",
                "r_1 *x*",
                (Change(("fields", "note"), after="has ``` fence"),),
            ),
        )
    )
    md = render.render_markdown(plan)
    row = md.splitlines()[6]
    assert row == r"| `+` create | auth-file/a\|b\<script\>.json | r\_1 \*x\* | 1 |"
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # four cells
    assert "\n````diff\n" in md
    assert "\n````\n" in md


def test_huge_plan_is_cut_to_fit_a_comment():
    """The diff block is bounded (GitHub comments hold 65,536 characters)."""
    changes = tuple(Change(("models", str(i)), after="m" * 100) for i in range(2000))
    plan = Plan(actions=(Action("config", "config.yaml", "update", "r", changes),))
    md = render.render_markdown(plan)
    assert len(md) < 60_000
    assert re.search(r"… \d+ more lines: see the plan file or the text output\n", md)


def test_no_ansi_in_markdown(full_plan):
    """Markdown never carries colour codes."""
    assert "\033[" not in render.render_markdown(full_plan)
