"""The lockout guard with a key rotation: a new secret-key is accepted when it opens the next
key (apply --next-management-key-file), and only then."""

from __future__ import annotations

import bcrypt

from reconciler.core.changes import Write
from reconciler.core.safety import SafetyOptions, lockout_blockers

OLD, NEXT = "old-key", "next-key"
LIVE = {
    "remote-management": {"secret-key": bcrypt.hashpw(OLD.encode(), bcrypt.gensalt(4)).decode()}
}
PATH = ("remote-management", "secret-key")


def rules(new: str, next_key: str | None) -> list[str]:
    opts = SafetyOptions(key_in_use=OLD, next_key=next_key)
    return [b.rule for b in lockout_blockers([Write(PATH, new)], LIVE, opts)]


def test_the_next_key_is_accepted() -> None:
    assert rules(NEXT, NEXT) == []


def test_any_other_key_is_still_a_lockout() -> None:
    assert rules(NEXT, None) == ["lockout"]
    assert rules("third-key", NEXT) == ["lockout"]
    assert rules("", NEXT) == ["lockout"]
