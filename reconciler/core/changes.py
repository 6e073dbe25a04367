"""Field-level changes (what a plan shows) and writes (what apply does to config.yaml).

Pure data.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.model import Path
from reconciler.core.normalize import MISSING


@dataclass(frozen=True)
class Change:
    """One difference at ``path``: ``before`` is live, ``after`` desired; MISSING = absent.

    With ``element=True`` the change adds (``after``) or removes (``before``) one element of the
    set-like list at ``path``.
    """

    path: Path
    before: Any = MISSING
    after: Any = MISSING
    element: bool = False
    secret: bool = False  # always masked (its value came from a reference)

    @property
    def dotted(self) -> str:
        return dotted(self.path)


@dataclass(frozen=True)
class Write:
    """Set ``path`` of config.yaml to ``value``; MISSING deletes the key."""

    path: Path
    value: Any = MISSING


def dotted(path: Path) -> str:
    """``("a", "b", 0)`` -> ``a.b[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def apply_writes(doc: MutableMapping[str, Any], writes: Iterable[Write]) -> None:
    """Perform ``writes`` on ``doc`` in place, creating intermediate mappings as needed.

    New mappings are of ``doc``'s own type, so a ruamel ``CommentedMap`` stays one and keeps
    the comments and key order of everything the writes do not touch.
    """
    for write in writes:
        parent = doc
        for key in write.path[:-1]:
            child = parent.get(str(key))
            if not isinstance(child, MutableMapping):
                child = type(doc)()
                parent[str(key)] = child
            parent = child
        last = str(write.path[-1])
        if write.value is MISSING:
            parent.pop(last, None)
        else:
            parent[last] = write.value
