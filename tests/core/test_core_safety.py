"""core.safety: the blockers' messages and flags, and how the lockout rule reads the writes."""

from __future__ import annotations

import bcrypt

from reconciler.core.auth_diff import AuthAction, AuthDiff
from reconciler.core.changes import Write
from reconciler.core.model import AuthFilesPolicy
from reconciler.core.normalize import MISSING
from reconciler.core.safety import Blocker, SafetyOptions, auth_blockers, lockout_blockers

KEY = "key-in-use"
LIVE = {
    "remote-management": {"secret-key": bcrypt.hashpw(KEY.encode(), bcrypt.gensalt(4)).decode()}
}
SECRET = ("remote-management", "secret-key")


def _auth(*actions: tuple[str, str], **policy: object) -> list[Blocker]:
    diff = AuthDiff(actions=[AuthAction(op, name, "") for op, name in actions])
    return auth_blockers(diff, AuthFilesPolicy(**policy), SafetyOptions())  # type: ignore[arg-type]


def test_a_protected_delete_names_the_file_and_has_no_override() -> None:
    assert _auth(("delete", "keep.json"), protect=("keep*",)) == [
        Blocker(
            "protected-delete",
            "auth file keep.json matches auth-files.protect and is never deleted, "
            "but this plan deletes it",
        )
    ]


def test_a_mass_delete_says_how_many_and_the_limit() -> None:
    assert _auth(("delete", "a.json"), ("delete", "b.json"), max_deletions=1) == [
        Blocker(
            "mass-delete",
            "the plan deletes 2 auth files, more than auth-files.max-deletions (1)",
            "--allow-mass-delete",
        )
    ]


def test_a_replace_names_every_file_and_the_flag() -> None:
    assert _auth(("replace", "a.json"), ("replace", "b.json")) == [
        Blocker(
            "replace",
            "re-seeding a.json, b.json from source overwrites the server's current tokens "
            "(rotated refresh tokens are lost)",
            "--allow-replace",
        )
    ]


def _lockout(writes: list[Write], live: object = LIVE, **opts: object) -> list[Blocker]:
    options = SafetyOptions(key_in_use=KEY, **opts)  # type: ignore[arg-type]
    return lockout_blockers(writes, live, options)  # type: ignore[arg-type]


def test_a_new_secret_key_is_refused_with_the_remedy() -> None:
    assert _lockout([Write(SECRET, "another")]) == [
        Blocker(
            "lockout",
            "remote-management.secret-key would no longer match the management key in use; "
            "the next request would be refused. Change the key in use in the same step "
            "(set the desired secret-key to it) or change it by hand",
        )
    ]


def test_remote_access_turned_off_from_another_host_is_refused() -> None:
    blockers = _lockout(
        [Write(("remote-management", "allow-remote"), False)], target_is_loopback=False
    )
    assert blockers == [
        Blocker(
            "lockout",
            "remote-management.allow-remote would become false while this reconciler "
            "connects from another host; CPA would refuse it from then on",
        )
    ]


def test_the_whole_remote_management_mapping_written_is_read_for_the_key() -> None:
    keeps = Write(("remote-management",), {"secret-key": KEY, "allow-remote": True})
    changes = Write(("remote-management",), {"secret-key": "another"})
    drops = Write(("remote-management",), {"allow-remote": True})
    assert _lockout([keeps]) == []
    assert [b.rule for b in _lockout([changes])] == ["lockout"]
    assert [b.rule for b in _lockout([drops])] == ["lockout"]


def test_writes_of_other_keys_never_touch_the_key() -> None:
    writes = [Write(("debug",), True), Write(("routing", "strategy"), "fill-first")]
    assert _lockout(writes) == []
    assert _lockout([Write(("remote-management", "allow-remote"), True)]) == []


def test_the_last_write_of_the_key_decides() -> None:
    assert _lockout([Write(SECRET, "another"), Write(SECRET, KEY)]) == []
    assert [b.rule for b in _lockout([Write(SECRET, KEY), Write(SECRET, MISSING)])] == ["lockout"]


def test_a_live_remote_management_that_is_no_mapping_holds_no_key() -> None:
    # then the key in use is not the config's secret-key: no config write can lock it out
    assert _lockout([Write(SECRET, "another")], live={"remote-management": None}) == []
    assert _lockout([Write(SECRET, "another")], live={"remote-management": "text"}) == []


def test_an_empty_secret_key_opens_no_key_not_even_an_empty_one() -> None:
    # CPA turns the management API off when secret-key is empty
    live = {"remote-management": {"secret-key": bcrypt.hashpw(b"", bcrypt.gensalt(4)).decode()}}
    opts = SafetyOptions(key_in_use="")
    assert [b.rule for b in lockout_blockers([Write(SECRET, "")], live, opts)] == ["lockout"]
