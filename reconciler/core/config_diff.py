"""The semantic diff of the config document: desired keys are owned, the rest is left alone.

Pure: no I/O. Walks the desired mapping; at each declared leaf (or list) it compares with the
live value under ``core.normalize`` rules, and records a ``Change`` to show and a ``Write`` to
perform. With ``prune`` it also removes live keys the desired mapping does not declare, except
server defaults, ignored paths and ``defaults.PRUNE_EXEMPT``. deepdiff is used only here, to
describe element-level changes inside ordered lists of mappings (provider credentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core import defaults, normalize
from reconciler.core.changes import Change, Write
from reconciler.core.model import Path
from reconciler.core.normalize import MISSING
from reconciler.core.secrets import canonical_json


@dataclass
class ConfigDiff:
    changes: list[Change] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)

    @property
    def restart_keys(self) -> tuple[str, ...]:
        keys = {str(w.path[0]) for w in self.writes if w.path[0] in defaults.RESTART_KEYS}
        return tuple(sorted(keys))


def parse_ignore(ignore: tuple[str, ...]) -> tuple[Path, ...]:
    """Dotted ignore paths (``codex.live-media-relay``) as key tuples."""
    return tuple(tuple(p.split(".")) for p in ignore if p)


def diff_config(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    *,
    prune: bool = False,
    ignore: tuple[str, ...] = (),
) -> ConfigDiff:
    """What must change so that ``live`` holds every key ``desired`` declares."""
    out = ConfigDiff()
    _walk((), desired, live or {}, prune, parse_ignore(ignore), out)
    return out


def _ignored(path: Path, ignore: tuple[Path, ...]) -> bool:
    return any(path[: len(i)] == i for i in ignore)


def _walk(
    path: Path,
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    prune: bool,
    ignore: tuple[Path, ...],
    out: ConfigDiff,
) -> None:
    for key, want in desired.items():
        p = (*path, str(key))
        if _ignored(p, ignore):
            continue
        have = live.get(key, MISSING)
        if isinstance(want, dict) and want and (have is MISSING or isinstance(have, dict)):
            _walk(p, want, have if isinstance(have, dict) else {}, prune, ignore, out)
        elif not normalize.values_equal(p, want, have):
            out.writes.append(Write(p, want))
            out.changes.extend(describe(p, have, want))
    if prune and not (path and path[0] in defaults.PRUNE_EXEMPT):
        # Nothing under an exempt key is pruned either: declaring only
        # remote-management.allow-remote must not remove remote-management.secret-key.
        _prune(path, desired, live, ignore, out)


def _prune(
    path: Path,
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    ignore: tuple[Path, ...],
    out: ConfigDiff,
) -> None:
    for key, have in live.items():
        p = (*path, str(key))
        if key in desired or _ignored(p, ignore):
            continue
        if not path and key in defaults.PRUNE_EXEMPT:
            continue
        if any(i[: len(p)] == p for i in ignore):
            # An ignored path lies inside: prune around it, never remove it with its parent.
            if isinstance(have, dict):
                _prune(p, {}, have, ignore, out)
            continue
        if normalize.is_default(p, have):
            continue
        out.writes.append(Write(p, MISSING))  # pragma: no mutate: MISSING is the default value
        out.changes.append(Change(p, before=have))


def describe(path: Path, before: Any, after: Any) -> list[Change]:
    """The changes to show for one differing value (elements for sets and lists of mappings)."""
    if isinstance(before, list) and isinstance(after, list):
        if path[-1] in defaults.SET_LIKE_KEYS:
            return _describe_set(path, before, after)
        if any(isinstance(i, dict) for i in [*before, *after]):
            return _describe_ordered(path, before, after)
    return [Change(path, before=before, after=after)]


def _describe_set(path: Path, before: list[Any], after: list[Any]) -> list[Change]:
    have = {canonical_json(normalize.normalize(path, [b])[0]): b for b in before}
    want = {canonical_json(normalize.normalize(path, [a])[0]): a for a in after}
    removed = [Change(path, before=have[k], element=True) for k in have if k not in want]
    added = [Change(path, after=want[k], element=True) for k in want if k not in have]
    return removed + added


def _describe_ordered(path: Path, before: list[Any], after: list[Any]) -> list[Change]:
    from deepdiff import DeepDiff  # imported here: only a changed list of mappings needs it

    # not mutated: verbose_level shapes only the text view (the tree has t1 and t2 either way)
    tree = DeepDiff(before, after, view="tree", verbose_level=2)  # pragma: no mutate
    changes: list[Change] = []
    for kind in sorted(tree.keys()):
        for level in tree[kind]:
            sub = tuple(level.path(output_format="list"))
            t1 = MISSING if _absent(level.t1) else level.t1
            t2 = MISSING if _absent(level.t2) else level.t2
            changes.append(Change((*path, *sub), before=t1, after=t2))
    return changes or [Change(path, before=before, after=after)]


def _absent(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"
