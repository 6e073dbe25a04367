"""The text plan: exact output for representative plans, colour, summary line, values."""

from __future__ import annotations

import re

import bcrypt

from reconciler.core.changes import Change
from reconciler.core.model import DesiredState, LiveState
from reconciler.core.plan import Action, Plan, PlanOptions, make_plan
from reconciler.output import render

TARGET = "http://127.0.0.1:8317"
ANSI = re.compile(r"\033\[[0-9;]*m")

FULL_TEXT = """\
Plan for http://127.0.0.1:8317 (server version 7.2.140)

  ~ config.yaml
      ~ debug: false -> true
      + request-retry: 3
      - payload: {"default": [{"models": ["gpt-5"], "params": {"t": 0.2}}]}
      + api-keys[]: ***
      - api-keys[]: ***
      ~ remote-management.secret-key: *** (before) -> *** (after)
      ~ routing.strategy: "round-robin" -> "fill-first"
      ~ port: 8317 -> 8318
      ! takes effect after a CPA restart: port
  + auth-file codex-alice.json  (missing on the server)
      + disabled: false
      + fields.priority: 5
  ~ auth-file claude-bob.json  (policy differs)
      ~ disabled: true -> false
      ~ fields.proxy_url: *** (before) -> "socks5://h:1080"
  ± auth-file gemini-x.json  (replace: source changed since the file was last seeded)
  - auth-file old.json  (not in the desired state (prune))

Blocked (exit 4): re-seeding gemini-x.json from source overwrites the server's current \
tokens [override: --allow-replace]
Blocked (exit 4): auth file old.json matches a protect pattern
Unresolved: auth file lost.json is missing on the server and has no source

Plan: 1 to create, 2 to update, 1 to replace, 1 to delete. 1 unresolved item.
"""


def test_full_plan_renders_exactly(full_plan):
    """Every op, set elements, a changed secret, a restart note, blockers, unresolved."""
    text = render.render_text(full_plan, target=TARGET, server_version="7.2.140")
    assert text == FULL_TEXT


def test_empty_plan_says_no_changes(empty_plan):
    """An empty plan is the header and the no-change line."""
    text = render.render_text(empty_plan, target=TARGET, server_version="7.2.140")
    assert text == (
        "Plan for http://127.0.0.1:8317 (server version 7.2.140)\n"
        "\n"
        "No changes. Live state matches the desired state.\n"
    )


def test_unresolved_only_plan(unresolved_plan):
    """Unresolved items are changes: the summary counts them."""
    assert render.render_text(unresolved_plan) == (
        "Plan\n"
        "\n"
        "Unresolved: auth file lost.json is missing on the server\n"
        "\n"
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete. 1 unresolved item.\n"
    )


def test_header_without_version_and_with_credentials_in_the_url(empty_plan):
    """The header names what is known; user-info in the target URL is masked."""
    assert render.render_text(empty_plan).splitlines()[0] == "Plan"
    text = render.render_text(empty_plan, target="http://admin:pw@h:8317")
    assert text.splitlines()[0] == "Plan for http://***@h:8317"
    assert render.render_text(empty_plan, server_version="v7").startswith(
        "Plan (server version v7)\n"
    )


def test_color_only_when_asked(full_plan):
    """ANSI codes appear only with color=True, and stripping them gives the plain text."""
    plain = render.render_text(full_plan, target=TARGET, server_version="7.2.140")
    colored = render.render_text(full_plan, target=TARGET, server_version="7.2.140", color=True)
    assert "\033[" not in plain
    assert ANSI.sub("", colored) == plain
    assert "\033[32m+\033[0m" in colored  # green create
    assert "\033[33m~\033[0m" in colored  # yellow update
    assert "\033[31m-\033[0m" in colored  # red delete
    assert "\033[35m±\033[0m" in colored  # magenta replace
    assert "\033[1mPlan for" in colored  # bold header


def test_plan_order_is_kept():
    """Actions and changes come out in the order of the plan, not sorted."""
    plan = Plan(
        actions=(
            Action("auth-file", "z.json", "create", "r", (Change(("b",), after=1),)),
            Action("auth-file", "a.json", "create", "r", (Change(("a",), after=1),)),
        )
    )
    lines = render.render_text(plan).splitlines()
    assert [line.strip() for line in lines[2:6]] == [
        "+ auth-file z.json  (r)",
        "+ b: 1",
        "+ auth-file a.json  (r)",
        "+ a: 1",
    ]


def test_made_plan_renders_config_changes():
    """A plan from make_plan: set elements, a nested key, an unchanged secret never shown."""
    hashed = bcrypt.hashpw(b"same-key", bcrypt.gensalt(4)).decode()
    desired = DesiredState(
        config={
            "debug": True,
            "routing": {"strategy": "ff"},
            "excluded-models": ["a", "c"],
            "remote-management": {"secret-key": "same-key"},
        }
    )
    live = LiveState(
        config={
            "debug": False,
            "routing": {"strategy": "round-robin"},
            "excluded-models": ["a", "b"],
            "remote-management": {"secret-key": hashed},
        }
    )
    plan = make_plan(desired, live, PlanOptions())
    assert render.render_text(plan) == (
        "Plan\n"
        "\n"
        "  ~ config.yaml\n"
        "      ~ debug: false -> true\n"
        '      ~ routing.strategy: "round-robin" -> "ff"\n'
        '      - excluded-models[]: "b"\n'
        '      + excluded-models[]: "c"\n'
        "\n"
        "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete.\n"
    )


def test_summary_line(full_plan, empty_plan):
    """Terraform-style counts; the no-change sentence for an empty plan."""
    assert render.render_summary(full_plan) == (
        "Plan: 1 to create, 2 to update, 1 to replace, 1 to delete. 1 unresolved item."
    )
    assert render.render_summary(empty_plan) == "No changes. Live state matches the desired state."
    two = Plan(unresolved=("a", "b"))
    assert render.render_summary(two).endswith(" 2 unresolved items.")


def test_values_are_compact_one_line_scalars():
    """JSON scalars, flow collections, escaped newlines, the mask unquoted, long values cut."""
    assert render.format_value("a\nb") == '"a\\nb"'
    assert render.format_value(None) == "null"
    assert render.format_value({"k": [1, "***"]}) == '{"k": [1, ***]}'
    long = render.format_value("x" * 500)
    assert len(long) == render.MAX_VALUE_CHARS
    assert long.endswith("…")


def test_secret_added_or_removed_shows_a_bare_mask():
    """On one side only a secret is ``***``; the before/after marks are for changed secrets."""
    plan = Plan(
        actions=(
            Action(
                "config",
                "config.yaml",
                "update",
                "r",
                (
                    Change(("remote-management", "secret-key"), after="s1"),
                    Change(("proxy-url",), before="http://u:p@h", after="http://h"),
                ),
            ),
        )
    )
    lines = render.render_text(plan).splitlines()
    assert lines[3] == "      + remote-management.secret-key: ***"
    assert lines[4] == '      ~ proxy-url: *** (before) -> "http://h"'


def test_control_characters_from_the_server_are_escaped():
    """A hostile auth-file name cannot send escape sequences to the reader's terminal."""
    plan = Plan(
        actions=(Action("auth-file", "evil\033[2J.json", "delete", "gone\r"),),
        unresolved=("auth file x\033]0;pwned\007.json has no source",),
    )
    text = render.render_text(plan)
    assert "\033" not in text
    assert "\r" not in text
    assert "  - auth-file evil\\x1b[2J.json  (gone\\x0d)\n" in text
    assert "Unresolved: auth file x\\x1b]0;pwned\\x07.json has no source\n" in text
    assert "\033" not in render.render_markdown(plan)
