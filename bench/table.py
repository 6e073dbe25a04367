"""The one table the benchmark prints, as aligned text or as Markdown.

A ``Row`` is one measured line: what was measured, by whom, its figures, and (for our own
lines) the target it must meet with PASS or FAIL. Notes say how the figures were taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

COLUMNS = ("scenario", "variant", "requests", "wall", "memory", "target", "result")


@dataclass(frozen=True)
class Row:
    scenario: str
    variant: str
    requests: str = ""
    wall: str = ""
    memory: str = ""
    target: str = ""
    result: str = ""

    def cells(self) -> tuple[str, ...]:
        return (
            self.scenario,
            self.variant,
            self.requests,
            self.wall,
            self.memory,
            self.target,
            self.result,
        )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def count(value: int) -> str:
    return f"{value:,}"


def seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 0.1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def megabytes(value: float) -> str:
    return f"{value:.1f} MB"


def render_text(rows: Sequence[Row], title: str, notes: Sequence[str]) -> str:
    grid = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    numeric = {2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(COLUMNS), rule, *(line(row.cells()) for row in rows)]
    return "\n".join([title, "", *body, "", *notes])


def render_markdown(rows: Sequence[Row], title: str, notes: Sequence[str]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---", "---", "---:", "---:", "---:", "---", "---"]
    body = [line(COLUMNS), "| " + " | ".join(align) + " |", *(line(r.cells()) for r in rows)]
    return "\n".join([title, "", *body, "", *(f"- {note}" for note in notes)])
