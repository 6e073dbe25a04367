"""``reconciler status`` for people: a table of credentials, their quota windows beneath.

Pure: no I/O. Colour as ``plan`` (``render.use_color`` decides; ANSI only), widths fitted to
``width`` (the terminal's) by shortening the name, account and note columns with ``…``; when
``width`` is None (a pipe) nothing is shortened. Every server text shown (``status_message``,
failure details) went through ``recipes.safe_text``::

    Credentials on http://127.0.0.1:8317 (server version 7.2.140)

    NAME              PROVIDER  ACCOUNT            PLAN  STATE  REFRESHED  REQ OK/FAIL  NOTE
    codex-alice.json  codex     alice@example.com  plus  ok     2h ago     12/0
        five-hour        42%  resets in 1h 0m
        weekly           17%  resets in 4d 15h
    claude-bob.json   claude    bob@example.com          error  5m ago     0/3          token revoked
        quota: auth_invalid (401) Provided authentication token is expired.

    2 credentials: 1 ok, 1 error. 1 unhealthy.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.output.render import _CONTROL
from reconciler.quota.report import Report, Row, is_exhausted

_GREEN, _YELLOW, _RED, _DIM, _BOLD = "32", "33", "31", "2", "1"
_STATE_COLORS = {
    "ok": _GREEN,
    "disabled": _DIM,
    "unavailable": _YELLOW,
    "error": _RED,
    "missing": _RED,
}
_SHRINKABLE = ("NAME", "ACCOUNT", "NOTE")
_MIN_WIDTH = 8


def _paint(text: str, code: str | None, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code and text else text


def _clean(text: str | None) -> str:
    return _CONTROL.sub("?", text or "")


def duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h 5m``, ``4d 15h``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _note(row: Row, now: float) -> str:
    h = row.health
    if h is None:
        return "declared, not on the server"
    parts = []
    if h.next_retry_after is not None and h.next_retry_after > now:
        parts.append(f"retry in {duration(h.next_retry_after - now)}")
    if h.status_message:
        parts.append(h.status_message)
    return "; ".join(parts)


def _cells(row: Row, now: float, declared: bool) -> dict[str, str]:
    h = row.health
    plan = (row.quota.plan if row.quota and row.quota.plan else None) or (h.plan if h else None)
    cells = {
        "NAME": row.name,
        "PROVIDER": h.provider if h else "",
        "ACCOUNT": (h.account or "") if h else "",
        "PLAN": plan or "",
        "STATE": row.state,
        "REFRESHED": (
            f"{duration(now - h.last_refresh)} ago" if h and h.last_refresh is not None else ""
        ),
        "REQ OK/FAIL": f"{h.recent_success}/{h.recent_failed}" if h else "",
        "NOTE": _note(row, now),
    }
    if declared:
        cells["DECLARED"] = row.declared or ""
    return {key: _clean(value) for key, value in cells.items()}


def _fit(widths: dict[str, int], width: int | None) -> dict[str, int]:
    if width is None:
        return widths
    fitted = dict(widths)
    total = sum(fitted.values()) + 2 * (len(fitted) - 1)
    while total > width:
        key = max(_SHRINKABLE, key=lambda k: fitted.get(k, 0))
        if fitted.get(key, 0) <= _MIN_WIDTH:
            break
        fitted[key] -= 1
        total -= 1
    return fitted


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: max(0, size - 1)] + "…"


def _window_lines(row: Row, now: float, color: bool, width: int | None) -> list[str]:
    lines = []
    if row.quota is not None:
        size = max((len(w.label) for w in row.quota.windows), default=0)
        for w in row.quota.windows:
            percent = "?" if w.used_percent is None else f"{w.used_percent:g}%"
            code = _RED if is_exhausted(w) else _YELLOW if (w.used_percent or 0) >= 90 else None
            reset = ""
            if w.resets_at is not None:
                reset = f"  resets in {duration(w.resets_at - now)}"
            label = _clean(w.label).ljust(size)
            lines.append(f"    {label}  {_paint(percent.rjust(5), code, color)}{reset}")
        failure = row.quota.failure
        if failure is not None:
            status = f" ({failure.status})" if failure.status else ""
            detail = f" {_clean(failure.detail)}" if failure.detail else ""
            text = f"quota: {failure.cls}{status}{detail}"
            lines.append("    " + _paint(_cut(text, (width or 10**6) - 4), _RED, color))
        elif not row.quota.windows:
            lines.append("    quota: no windows reported")
    elif row.quota_note:
        lines.append("    " + _paint(f"quota: {_clean(row.quota_note)}", _DIM, color))
    return lines


def render_status(
    report: Report, *, color: bool, width: int | None, now: float | None = None
) -> str:
    """The table; ``now`` defaults to the report's time."""
    now = report.generated_at if now is None else now
    version = f" (server version {report.server_version})" if report.server_version else ""
    out = [f"Credentials on {_clean(report.target)}{version}", ""]
    declared = any(row.declared is not None for row in report.rows)
    cells = [_cells(row, now, declared) for row in report.rows]
    headers: Sequence[str] = list(cells[0]) if cells else []
    if not report.rows:
        out.append("No auth files on the server match.")
    else:
        widths = {k: max(len(k), *(len(c[k]) for c in cells)) for k in headers}
        widths = _fit(widths, width)
        out.append(_paint(_line(headers, {k: k for k in headers}, widths), _BOLD, color))
        for row, row_cells in zip(report.rows, cells, strict=True):
            text = _line(headers, row_cells, widths, row.state, color)
            out.append(text)
            if report.quota:
                out.extend(_window_lines(row, now, color, width))
    out += ["", _summary(report)]
    return "\n".join(out)


def _line(
    headers: Sequence[str],
    cells: dict[str, str],
    widths: dict[str, int],
    state: str | None = None,
    color: bool = False,
) -> str:
    parts = []
    for i, key in enumerate(headers):
        text = _cut(cells[key], widths[key])
        padded = text if i == len(headers) - 1 else text.ljust(widths[key])
        if key == "STATE" and state is not None:
            padded = _paint(text, _STATE_COLORS.get(state), color) + " " * (widths[key] - len(text))
        parts.append(padded)
    return "  ".join(parts).rstrip()


def _summary(report: Report) -> str:
    rows = report.rows
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items())
    plural = "" if len(rows) == 1 else "s"
    text = f"{len(rows)} credential{plural}" + (f": {states}." if states else ".")
    unhealthy = sum(1 for row in rows if row.unhealthy)
    if unhealthy:
        text += f" {unhealthy} unhealthy."
    exhausted = sum(1 for row in rows if row.exhausted)
    if exhausted:
        text += f" {exhausted} with a quota window at 100 %."
    if report.quota:
        failed = sum(1 for row in rows if row.failure_class)
        if failed:
            text += f" {failed} quota read(s) failed."
    return text
