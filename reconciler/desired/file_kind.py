"""Which kind of desired-state file a text is: one server (``target:``) or a fleet
(``targets:``). Kept apart from the fleet loader so that a command deciding which loader to
use imports neither until it knows (a single-server ``plan`` never imports the fleet code).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reconciler.local_files import DOCUMENT_LIMIT, read_text_bounded

__all__ = ["is_fleet_file", "is_fleet_text"]

# A top-level ``targets:`` key in block style (the way every example writes it).
_FLEET_LINE = re.compile(r"^(?:targets|\"targets\"|'targets')[ \t]*:", re.MULTILINE)


def is_fleet_text(text: str) -> bool:
    # The plain search first: a multi-line pattern over a 10,000-entry file costs ~10 ms.
    return "targets" in text and _FLEET_LINE.search(text) is not None


def is_fleet_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` has a top-level ``targets:`` line (unreadable: False, the
    loader then says why)."""
    try:
        return is_fleet_text(read_text_bounded(Path(path), DOCUMENT_LIMIT))
    except (OSError, UnicodeDecodeError):
        return False
