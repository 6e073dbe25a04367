"""A server that answers slowly, cut off, or with something that is not what was asked for.

Every GET that ``plan`` and ``apply`` make meets each bad answer: the run must exit 1 with an
error naming the endpoint, send no mutating request, and not wait past ``--timeout`` (a slow
answer is delayed far beyond it: the run must be over before the server has even answered).
"""

from __future__ import annotations

from typing import Any

import pytest
from fault_world import PREFIX, TIMEOUT, World, matching, mutating

SLOW = 5.0  # seconds; ten times --timeout

BAD_ANSWERS: dict[str, dict[str, Any]] = {
    "slow": {"delay": SLOW},
    "truncated": {"truncate": True, "times": 3},
    "html": {"status": 200, "body": "<html><body>502 Bad Gateway</body></html>", "times": 3},
}

# (command, path, nth): the GETs of each command, nth counted from the start of the run; a
# download's nth 0 is the first backup download, after the plan's own downloads.
GETS = (
    ("plan", "/config.yaml", 1),
    ("plan", "/auth-files/download", 1),  # a declared field the listing does not show
    ("apply", "/config.yaml", 1),
    ("apply", "/auth-files", 1),
    ("apply", "/auth-files/download", 1),
    ("apply", "/auth-files", 2),  # the freshness check before anything is written
    ("apply", "/auth-files/download", 0),  # the backup of a file about to be deleted
    ("apply", "/config.yaml", 2),  # the re-read just before the PUT
)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("answer", BAD_ANSWERS)
@pytest.mark.parametrize(
    ("command", "path", "nth"), GETS, ids=[f"{c}-GET{p}-{n or 'backup'}" for c, p, n in GETS]
)
def test_a_bad_answer_is_a_clear_error_and_nothing_is_written(
    world: World, command: str, path: str, nth: int, answer: str
) -> None:
    if nth == 0:
        nth = world.plan_downloads + 1
    world.emu.inject_fault("GET", path, nth=nth, **BAD_ANSWERS[answer])

    result = world.apply() if command == "apply" else world.plan()

    assert result.code == 1, result.out + result.err
    assert f"GET {PREFIX}{path}" in result.err
    assert "Traceback" not in result.err
    assert mutating(world.emu) == []
    if answer == "slow":
        # The client gave up at its timeout: the server has not even answered yet.
        assert len(matching(world.emu, "GET", path)) == nth - 1
        assert "timed out" in result.err
    world.assert_nothing_lost()
    assert world.emu.config_yaml() == world.config_before


def test_the_timeout_is_the_configured_one(world: World) -> None:
    """The same slow answer within --timeout is waited for: the limit is the flag's, not 0."""
    world.emu.inject_fault("GET", "/config.yaml", delay=TIMEOUT / 5)

    result = world.plan("--detailed-exitcode", timeout=TIMEOUT * 20)

    assert result.code == 2, result.err


@pytest.mark.parametrize("nth", [1, 2], ids=["plan-read", "re-read-before-put"])
def test_a_json_answer_for_config_yaml_is_refused_not_written_back(world: World, nth: int) -> None:
    """A gateway's ``{"error": ...}`` (200, application/json) parses as a YAML mapping too: taken
    for config.yaml it would be rewritten and PUT back in place of the real config."""
    world.emu.inject_fault(
        "GET", "/config.yaml", nth=nth, status=200, body={"error": "upstream"}, times=5
    )

    result = world.apply()

    assert result.code == 1, result.out + result.err
    assert f"GET {PREFIX}/config.yaml: 200 with a JSON answer" in result.err
    assert mutating(world.emu) == []
    assert world.emu.config_yaml() == world.config_before
