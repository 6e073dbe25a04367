"""Every bad input of the catalogue (``cases/``) is refused the same way.

For each case: the documented exit code, a message naming the place (file and line, flag, or
endpoint), no traceback, the management key and planted values nowhere in the output, and
**no mutating request** in the emulator's log (``requests: none``: no request at all). The
cases run ``apply --auto-approve`` wherever they can, against a server on which that apply
would change things: a bad input that went unnoticed would show up as a PUT or a POST.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_input_cases import (
    CATEGORIES,
    KEY,
    PLANTED_IN_BROKEN_CONFIG,
    SETUPS,
    Case,
    Outcome,
    Places,
    copy_case,
    dead_url,
    documented_exit_codes,
    environment,
    load_cases,
    non_loopback_ipv4,
    run_in_process,
    run_subprocess,
    without_file_override,
)

from reconciler.emulator import Emulator

CASES = load_cases()


@pytest.fixture(scope="module")
def lan_ip() -> str | None:
    return non_loopback_ipv4()


def _emulator_for(case: Case, places: Places) -> Emulator:
    kwargs = {"management_key": KEY, **places.fill_any(dict(case.emulator))}
    return Emulator(**kwargs)


@pytest.fixture
def started(
    request: pytest.FixtureRequest, lan_ip: str | None
) -> Iterator[tuple[Emulator, Places]]:
    case: Case = request.param
    probe = Places(url="", key=KEY, dead_url=dead_url(), lan_ip=lan_ip)
    try:
        emulator = _emulator_for(case, probe)
    except LookupError as exc:
        pytest.skip(f"{case.name}: {exc}")
    with emulator as emu:
        places = Places(url=emu.url, key=KEY, dead_url=probe.dead_url, lan_ip=lan_ip)
        if case.setup is not None:
            SETUPS[case.setup](emu)
        emu.reset_requests()
        yield emu, places


def _run(case: Case, places: Places, workdir: Path) -> Outcome:
    copy_case(case, places, workdir)
    argv = [places.fill(a) for a in case.argv]
    env = environment(case, places, os.environ)
    if not case.unreadable:
        return run_in_process(argv, env, workdir)
    prefix = without_file_override()
    if prefix is None:
        pytest.skip("running as root without setpriv: mode 000 cannot make a file unreadable")
    return run_subprocess(argv, env, workdir, prefix)


@pytest.mark.parametrize("started", CASES, ids=[c.name for c in CASES], indirect=True)
def test_bad_input_is_refused(
    started: tuple[Emulator, Places], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    emu, places = started
    case: Case = request.node.callspec.params["started"]
    outcome = _run(case, places, tmp_path / "work")
    printed = outcome.out + outcome.err

    assert outcome.code == case.exit, f"{case.about}: exit {outcome.code}\n{printed}"
    assert case.exit in documented_exit_codes()
    assert places.fill(case.place) in outcome.err, f"the place is not named:\n{outcome.err}"
    for text in case.says:
        assert places.fill(text) in outcome.err, f"{text!r} is not said:\n{outcome.err}"
    assert "Traceback" not in printed
    assert KEY not in printed
    for value in (*case.never, PLANTED_IN_BROKEN_CONFIG):
        assert value not in printed

    assert emu.mutating_requests() == []
    if case.requests == "none":
        assert emu.requests() == [], "a bad input found before any request must send none"


def test_the_catalogue_covers_every_kind_of_input() -> None:
    assert len(CASES) >= 25
    per_category = Counter(case.category for case in CASES)
    assert set(per_category) == set(CATEGORIES)
    assert all(count >= 4 for count in per_category.values()), per_category


def test_every_case_says_what_is_wrong_and_where() -> None:
    for case in CASES:
        assert case.about, case.name
        assert case.place.strip(), case.name
        assert case.exit in documented_exit_codes(), case.name


def test_bad_input_exits_1() -> None:
    """Bad input is exit 1 (docs/exit-codes.md): 2 to 5 mean something else."""
    assert {case.exit for case in CASES} == {1}
