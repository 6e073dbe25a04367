"""The plan for people: Terraform-like text for a terminal or CI log, Markdown for a PR.

Pure: no I/O. Secrets are masked through ``plan_json.mask_change`` (the same masking as the JSON
plan): ``***`` for a value on one side, ``*** (before) -> *** (after)`` when a secret changed
(kubectl, Flux). Given the fingerprint key (derived from the management key), each masked value
is followed by a short keyed fingerprint instead, ``*** (a1b2c3)``: the same value shows the same
fingerprint in every run, so a reader can tell which of several API keys left or came, and
nobody without the key can test a guess against it. Actions and changes keep the order of the plan, which is the order apply runs.

Text::

    Plan for http://127.0.0.1:8317 (server version 7.2.140)

      ~ config.yaml
          ~ debug: false -> true
          + api-keys[]: ***
          ! takes effect after a CPA restart: port
      + auth-file codex-alice.json  (missing on the server)
      = auth-file keep-legacy.json (protected, not pruned)

    Plan: 1 to create, 1 to update, 0 to replace, 0 to delete.

A ``=`` line is a live file that prune leaves alone because it matches ``protect``: not a change.
An ``Unmanaged:`` line names live auth files the desired state does not list while prune is off:
information, not a change either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.core.model import Path
from reconciler.core.plan import KEPT_REASON, Action, Plan
from reconciler.core.safety import Blocker
from reconciler.core.secrets import MASK
from reconciler.output.plan_json import (
    TOOL_NAME,
    MaskedChange,
    action_secret_paths,
    mask_change,
    safe_url,
)

OP_SYMBOLS = {"create": "+", "update": "~", "replace": "±", "delete": "-"}
NO_CHANGES = "No changes. Live state matches the desired state."
MAX_VALUE_CHARS = 200
MAX_MARKDOWN_DIFF_CHARS = 50_000  # a GitHub comment holds 65,536 characters
MAX_UNMANAGED_TEXT = 20  # unmanaged auth files named in text; the JSON plan names them all
MAX_UNMANAGED_MARKDOWN = 100

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_COLORS = {"+": "32", "~": "33", "-": "31", "±": "35", "!": "33", "bold": "1", "error": "1;31"}


class TtyStream(Protocol):
    """What ``use_color`` needs of a stream."""

    def isatty(self) -> bool: ...


@dataclass(frozen=True)
class _Row:
    """One line of an action block: depth 0 is the action, depth 1 a change or a note."""

    depth: int
    symbol: str
    text: str


# ---------------------------------------------------------------------------------------------
# Shared pieces


def use_color(stream: TtyStream, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, unless ``NO_COLOR`` is set (any value) or ``TERM=dumb``."""
    if "NO_COLOR" in environ or environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def render_summary(plan: Plan) -> str:
    """``Plan: 1 to create, 2 to update, 0 to replace, 1 to delete.``, or the no-change line."""
    if not plan.has_changes:
        return NO_CHANGES
    counts = ", ".join(
        f"{plan.count(op)} to {op}" for op in ("create", "update", "replace", "delete")
    )
    line = f"Plan: {counts}."
    if plan.unresolved:
        n = len(plan.unresolved)
        line += f" {n} unresolved item{'s' if n != 1 else ''}."
    return line


def format_value(value: Any) -> str:
    """A compact one-line form: JSON scalars, flow mappings and lists, ``***`` unquoted."""
    text = _format(value)
    if len(text) > MAX_VALUE_CHARS:
        return text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _format(value: Any) -> str:
    if value == MASK:
        return MASK
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}: {_format(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def short_fingerprint(fingerprint: str) -> str:
    """The first 6 hex digits of ``hmac-sha256:<hex>``: enough to tell a few keys apart."""
    return fingerprint.rpartition(":")[2][:6]


def _side(value: Any, sensitive: bool, fingerprint: str | None, word: str) -> str:
    text = format_value(value)
    if fingerprint is not None:
        return f"{text} ({short_fingerprint(fingerprint)})"
    return f"{text} ({word})" if sensitive and word else text


def _change_row(change: MaskedChange) -> _Row:
    if change.before_present and change.after_present:
        before = _side(change.before, change.before_sensitive, change.before_fingerprint, "before")
        after = _side(change.after, change.after_sensitive, change.after_fingerprint, "after")
        return _Row(1, "~", f"{change.label}: {before} -> {after}")
    if change.after_present:
        after = _side(change.after, False, change.after_fingerprint, "")
        return _Row(1, "+", f"{change.label}: {after}")
    if change.before_present:
        before = _side(change.before, False, change.before_fingerprint, "")
        return _Row(1, "-", f"{change.label}: {before}")
    return _Row(1, "~", f"{change.label}: (absent on both sides)")


def _action_title(action: Action) -> str:
    if action.kind == "config":
        return action.name
    reason = f"replace: {action.reason}" if action.op == "replace" else action.reason
    return f"{action.kind} {action.name}  ({reason})"


def _action_rows(
    action: Action, secret_paths: tuple[Path, ...], fingerprint_key: bytes | None = None
) -> list[_Row]:
    paths = action_secret_paths(action, secret_paths)
    rows = [_Row(0, OP_SYMBOLS.get(action.op, "?"), _action_title(action))]
    rows += [
        _change_row(mask_change(c, secret_paths=paths, fingerprint_key=fingerprint_key))
        for c in action.changes
    ]
    if action.restart_required:
        note = "takes effect after a CPA restart: " + ", ".join(action.restart_required)
        rows.append(_Row(1, "!", note))
    return [_Row(r.depth, r.symbol, _clean(r.text)) for r in rows]


def _clean(text: str) -> str:
    """``text`` with control characters escaped: a name from the server cannot drive a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _kept_text(name: str) -> str:
    """``auth-file keep-legacy.json (protected, not pruned)``: a file prune leaves alone."""
    return _clean(f"auth-file {name} ({KEPT_REASON})")


def _unmanaged_text(names: tuple[str, ...], most: int) -> str:
    """``2 auth files are on the server but not in the desired state (prune is off): a.json,
    b.json``: information, not a change (the first ``most`` names, then how many more)."""
    n = len(names)
    shown = ", ".join(names[:most]) + (f" and {n - most} more" if n > most else "")
    files = "auth file is" if n == 1 else "auth files are"
    return _clean(f"{n} {files} on the server but not in the desired state (prune is off): {shown}")


def _blocker_text(blocker: Blocker) -> str:
    override = f" [override: {blocker.override}]" if blocker.override else ""
    return f"{blocker.message}{override}"


def _title(target: str | None, server_version: str | None) -> str:
    title = "Plan"
    if target:
        title += f" for {safe_url(target)}"
    if server_version:
        title += f" (server version {server_version})"
    return title


# ---------------------------------------------------------------------------------------------
# Text


def render_text(
    plan: Plan,
    *,
    secret_paths: Iterable[Path] = (),
    color: bool = False,
    target: str | None = None,
    server_version: str | None = None,
    fingerprint_key: bytes | None = None,
) -> str:
    """The plan as text for a terminal or a CI log; ANSI colour only with ``color=True``;
    masked values carry their keyed fingerprint when ``fingerprint_key`` is given."""

    def paint(code: str, text: str) -> str:
        return f"\033[{_COLORS[code]}m{text}\033[0m" if color else text

    paths = tuple(secret_paths)
    lines = [paint("bold", _clean(_title(target, server_version))), ""]
    for action in plan.actions:
        for row in _action_rows(action, paths, fingerprint_key):
            indent = "  " if row.depth == 0 else "      "
            text = paint("bold", row.text) if row.depth == 0 else row.text
            lines.append(f"{indent}{paint(row.symbol, row.symbol)} {text}")
    lines += [f"  = {_kept_text(name)}" for name in plan.kept]
    if plan.actions or plan.kept:
        lines.append("")
    blocked = paint("error", "Blocked (exit 4):")
    lines += [f"{blocked} {_clean(_blocker_text(b))}" for b in plan.blockers]
    lines += [f"{paint('bold', 'Unresolved:')} {_clean(item)}" for item in plan.unresolved]
    if plan.unmanaged:
        lines.append(f"Unmanaged: {_unmanaged_text(plan.unmanaged, MAX_UNMANAGED_TEXT)}")
    if plan.blockers or plan.unresolved or plan.unmanaged:
        lines.append("")
    lines.append(paint("bold", render_summary(plan)))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Markdown


def render_markdown(
    plan: Plan,
    *,
    secret_paths: Iterable[Path] = (),
    target: str | None = None,
    server_version: str | None = None,
    fingerprint_key: bytes | None = None,
) -> str:
    """The plan as GitHub Markdown, for a PR comment or ``$GITHUB_STEP_SUMMARY``.

    A title, the summary line, a table of actions, the changes in a collapsed ``<details>``
    block (a ``diff`` code block), then the blockers and the unresolved items.
    """
    paths = tuple(secret_paths)
    title = _md_escape(f"{TOOL_NAME}: {_title(target, server_version)}")
    parts = [f"### {title}", _md_summary(plan)]
    if plan.actions:
        parts.append(_md_table(plan.actions))
        parts.append(_md_details(plan.actions, paths, fingerprint_key))
    if plan.blockers:
        parts.append(_md_list("Blocked (exit 4)", [_md_blocker(b) for b in plan.blockers]))
    if plan.unresolved:
        parts.append(_md_list("Unresolved", [_md_escape(u) for u in plan.unresolved]))
    if plan.kept:
        kept = [f"{_md_code('=')} {_md_escape(_kept_text(name))}" for name in plan.kept]
        parts.append(_md_list("Kept", kept))
    if plan.unmanaged:
        text = _unmanaged_text(plan.unmanaged, MAX_UNMANAGED_MARKDOWN)
        parts.append(f"**Unmanaged:** {_md_escape(text)}")
    return "\n\n".join(parts) + "\n"


def _md_summary(plan: Plan) -> str:
    line = f"**{_md_escape(render_summary(plan))}**"
    if plan.blockers:
        n = len(plan.blockers)
        line += f" Blocked by {n} safety rule{'s' if n != 1 else ''}: nothing will be applied."
    return line


def _md_table(actions: Iterable[Action]) -> str:
    rows = ["| Action | Resource | Reason | Changes |", "| --- | --- | --- | --- |"]
    for a in actions:
        count = str(len(a.changes))
        if a.restart_required:
            count += " (restart: " + ", ".join(a.restart_required) + ")"
        symbol = _md_code(OP_SYMBOLS.get(a.op, "?"))
        cells = [f"{symbol} {_md_escape(a.op)}", _md_escape(a.address), _md_escape(a.reason)]
        rows.append("| " + " | ".join([*cells, _md_escape(count)]) + " |")
    return "\n".join(rows)


def _md_details(
    actions: Iterable[Action], secret_paths: tuple[Path, ...], fingerprint_key: bytes | None
) -> str:
    lines: list[str] = []
    for action in actions:
        for row in _action_rows(action, secret_paths, fingerprint_key):
            lines.append(f"{row.symbol} {'    ' * row.depth}{row.text}")
    body = _truncate_lines(lines, MAX_MARKDOWN_DIFF_CHARS)
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return f"<details><summary>Changes</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>"


def _md_blocker(blocker: Blocker) -> str:
    text = _md_escape(blocker.message)
    return text + (f" (override: {_md_code(blocker.override)})" if blocker.override else "")


def _md_list(title: str, items: Iterable[str]) -> str:
    return f"**{title}**\n\n" + "\n".join(f"- {item}" for item in items)


def _truncate_lines(lines: list[str], limit: int) -> str:
    kept: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        if size + len(line) + 1 > limit:
            kept.append(f"… {len(lines) - i} more lines: see the plan file or the text output")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


_MD_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]<>|~#"} | {"&": "&amp;", "\n": " ", "\r": " "}
)


def _md_escape(text: str) -> str:
    """``text`` as literal Markdown inline text (also safe in a table cell)."""
    return _clean(text.translate(_MD_SPECIAL))


def _md_code(text: str) -> str:
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    body = text.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"
