"""Hostile auth-file names and token fields: nothing lands on another file, no token is touched.

CPA stores an upload under ``filepath.Base(strings.TrimSpace(filename))`` and a multipart client
percent-encodes a file name's control characters, so ``" victim.json"`` (or NBSP, U+3000, ...)
is stored *over* ``victim.json`` and ``"a\\x00b.json"`` as ``a%00b.json``. The emulator does as
CPA does (the first tests show the overwrite the loader now prevents); the loader refuses such
names at load with file:line and exit 1, before any request; the executor refuses to upload one
from a plan that did not come from the loader. Token fields (``token``, ``token.refresh_token``,
``access_token`` anywhere in a path, ...) are refused at load the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import cli, errors
from reconciler.client import ManagementClient
from reconciler.core.model import DesiredAuthFile, DesiredState, LiveState
from reconciler.core.names import name_problem
from reconciler.core.plan import Action, Plan
from reconciler.emulator import Emulator
from reconciler.pipeline.apply import apply_plan
from reconciler.statedir.backup import Backup

KEY = "names-test-key"
VICTIM = "victim.json"
LIVE_TOKENS = {"type": "codex", "access_token": "live-at-rotated", "refresh_token": "live-rt"}
SEED_TOKENS = {"type": "codex", "access_token": "seed-at-old", "refresh_token": "seed-rt-old"}

# Every white space Go's unicode.IsSpace knows, which strings.TrimSpace removes.
GO_SPACES = [
    "\t",
    "\n",
    "\v",
    "\f",
    "\r",
    " ",
    "\x85",
    "\xa0",
    "\u1680",
    *(chr(c) for c in range(0x2000, 0x200B)),
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
]
BIDI = ["\u200e", "\u200f", *(chr(c) for c in range(0x202A, 0x202F)), "\u2066", "\u2067"]
BIDI += ["\u2068", "\u2069"]
CONTROLS = ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x80", "\x9b", "\x9f"]
SLASHES = ["/", "\\", "\u2215", "\u2044", "\uff0f", "\u29f8"]

BAD_NAMES = (
    [f"{s}{VICTIM}" for s in GO_SPACES]
    + [f"{VICTIM}{s}" for s in GO_SPACES]
    + [f"vic{c}tim.json" for c in CONTROLS + BIDI + SLASHES]
    + ["vic\u200btim.json", 'vic"tim.json', ".json", "..json", "...json", "", "victim.yaml"]
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        emulator.write_auth_file(VICTIM, LIVE_TOKENS)
        emulator.reset_requests()
        yield emulator


def settled_requests(emu: Emulator) -> list[str]:
    time.sleep(0.05)  # the emulator records a request just after answering it
    return [f"{r.method} {r.path}" for r in emu.requests()]


# -- the emulator does what CPA does: the overwrite the loader prevents -----------------------


@pytest.mark.parametrize("pad", [" ", "\xa0", "\u3000", "\u2007"], ids=repr)
def test_emulator_stores_a_padded_upload_over_the_trimmed_name(emu: Emulator, pad: str) -> None:
    with ManagementClient(emu.url, KEY) as client:
        client.upload_auth_files({f"{pad}{VICTIM}": json.dumps(SEED_TOKENS).encode()})
        names = [f.name for f in client.list_auth_file_summaries()]
    assert names == [VICTIM]
    assert emu.read_auth_file(VICTIM)["access_token"] == "seed-at-old"  # the live one is gone


def test_emulator_stores_control_characters_percent_encoded(emu: Emulator) -> None:
    with ManagementClient(emu.url, KEY) as client:
        client.upload_auth_files({"a\x00b.json": b"{}", "c\nd.json": b"{}"})
        names = sorted(f.name for f in client.list_auth_file_summaries())
    assert names == ["a%00b.json", "c%0Ad.json", VICTIM]


def test_emulator_keeps_a_backslash_and_a_lookalike_slash_as_written(emu: Emulator) -> None:
    with ManagementClient(emu.url, KEY) as client:
        client.upload_auth_files({"a\u2215b.json": b"{}"})
        names = sorted(f.name for f in client.list_auth_file_summaries())
    assert names == ["a\u2215b.json", VICTIM]


# -- the loader refuses them: file:line, exit 1, no request -------------------------------------


def write_desired(root: Path, url: str, entry: str) -> Path:
    (root / "auth").mkdir(exist_ok=True)
    (root / "auth" / "seed.json").write_text(json.dumps(SEED_TOKENS))
    desired = root / "desired-state.yaml"
    desired.write_text(
        f"target:\n  url: {url}\n  management-key: {KEY}\n"
        f"auth-files:\n  files:\n    - {entry}\n      source: auth/seed.json\n",
        encoding="utf-8",
    )
    return desired


def yaml_string(text: str) -> str:
    """``text`` as a YAML double-quoted scalar, every non-ASCII character escaped."""
    return json.dumps(text, ensure_ascii=True)


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_the_loader_refuses_a_name_cpa_would_store_differently(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    desired = write_desired(tmp_path, emu.url, f"name: {yaml_string(name)}")
    for argv in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        code = cli.main([argv[0], str(desired), *argv[1:]])
        err = capsys.readouterr().err
        assert code == 1, err
        assert f"{desired}:6: auth-files.files[0].name: " in err, err
        assert "is not a valid auth-file name" in err, err
    assert settled_requests(emu) == []
    assert emu.read_auth_file(VICTIM) == LIVE_TOKENS


@pytest.mark.parametrize(
    ("name", "says"),
    [
        (" victim.json", "would be stored as 'victim.json'"),
        ("\xa0victim.json", "which CPA trims"),
        ("a\x00b.json", "the upload sends it as '%00'"),
        ("a\u202eb.json", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("a\u2215b.json", "U+2215 DIVISION SLASH, which looks like a path separator"),
        (".json", "needs a file name before .json"),
    ],
    ids=repr,
)
def test_the_message_says_why_and_shows_the_name_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, says: str
) -> None:
    desired = write_desired(tmp_path, "http://127.0.0.1:9", f"name: {yaml_string(name)}")
    assert cli.main(["validate", str(desired)]) == 1
    err = capsys.readouterr().err
    assert says in err
    assert "\u202e" not in err and "\xa0" not in err and "\x00" not in err


@pytest.mark.parametrize(
    "name",
    ["victim.json", "my file.json", "a%00b.json", "caf\xe9-\u4e2d.json", "x\xa0y.json", "A.JSON"],
    ids=repr,
)
def test_names_cpa_keeps_as_written_are_accepted(name: str) -> None:
    assert name_problem(name) is None


def test_a_name_from_a_reference_is_refused(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NAME_FROM_ENV", "victim.json")
    desired = write_desired(tmp_path, emu.url, "name: ${env:NAME_FROM_ENV}")
    assert cli.main(["plan", str(desired)]) == 1
    err = capsys.readouterr().err
    assert f"{desired}:6: " in err and "written literally, not as a reference" in err
    assert settled_requests(emu) == []


# -- the executor refuses to upload one, whatever plan it is given ----------------------------


@pytest.mark.parametrize("name", [" victim.json", "\xa0victim.json", "a\x00b.json"], ids=repr)
@pytest.mark.parametrize("op", ["create", "replace"])
def test_the_executor_refuses_to_upload_a_name_cpa_would_change(
    emu: Emulator, tmp_path: Path, name: str, op: str
) -> None:
    entry = DesiredAuthFile(name=name, source="auth/seed.json", content=SEED_TOKENS)
    plan = Plan(actions=(Action("auth-file", name, op, "crafted"),))
    desired = DesiredState(config=None, auth_files=(entry,))
    refused = pytest.raises(errors.SafetyError, match="refusing to upload the auth file")
    with ManagementClient(emu.url, KEY) as client, refused:
        apply_plan(
            plan,
            desired,
            LiveState(config={}, config_text=""),
            client,
            Backup.new(tmp_path / "state", emu.url),
            seed_key=b"seed",
        )
    assert settled_requests(emu) == []
    assert emu.read_auth_file(VICTIM) == LIVE_TOKENS


# -- token fields, nested or not, are refused at load ------------------------------------------

TOKEN_FIELD_CASES = [
    "{token: null}",
    "{token: {}}",
    "{token: {access_token: stale}}",
    "{token.refresh_token: stale}",
    "{token.access_token: null}",
    "{Token: null}",
    "{accessToken: stale}",
    "{access-token: stale}",
    "{id-token: stale}",
    "{api_key: sk-stale}",
    "{api-key: sk-stale}",
    "{cookie: 'sid=stale'}",
    "{metadata.refresh_token: stale}",
    "{metadata: {refresh_token: stale}}",
    "{metadata: {inner: {cookie: stale}}}",
    "{client_secret: stale}",
]


@pytest.mark.parametrize("fields", TOKEN_FIELD_CASES)
def test_a_token_field_anywhere_in_a_fields_path_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: str
) -> None:
    desired = write_desired(tmp_path, emu.url, f"name: {VICTIM}\n      fields: {fields}")
    for argv in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        code = cli.main([argv[0], str(desired), *argv[1:]])
        err = capsys.readouterr().err
        assert code == 1, err
        assert f"{desired}:7: auth-files.files[0].fields." in err, err
        assert "token field" in err, err
        assert "stale" not in err
    assert settled_requests(emu) == []
    assert emu.read_auth_file(VICTIM) == LIVE_TOKENS


@pytest.mark.parametrize(
    "fields",
    [
        "{headers: {Cookie: 'a=b'}}",
        "{headers.Cookie: 'a=b'}",
        "{note: token budget, max_tokens: 5}",
        "{metadata: {team: a}}",
    ],
)
def test_fields_that_only_look_like_tokens_are_accepted(tmp_path: Path, fields: str) -> None:
    desired = write_desired(
        tmp_path, "http://127.0.0.1:9", f"name: {VICTIM}\n      fields: {fields}"
    )
    assert cli.main(["validate", str(desired)]) == 0
