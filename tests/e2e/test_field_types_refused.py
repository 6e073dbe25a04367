"""Auth-file ``fields`` values CPA would refuse, or that would replace all of a file's headers,
are refused by the loader before any request; the types CPA does not check converge.

CPA's PATCH /auth-files/fields answers 400 to a ``weight`` or ``request_retry`` that is not an
integer literal (and to a weight above 1,000,000): without the loader's check the apply would
stop part-way, after the entries before it were changed. A ``headers`` mapping holding null,
or a ``headers`` list, is stored in place of all of the file's headers: undeclared headers
would silently go. ``headers.<name>: null`` is the way to clear one header, and keeps the rest.
"""

from __future__ import annotations

import pytest
from e2e_helpers import (
    Cli,
    Project,
    assert_converges,
    auth_source,
    desired_doc,
    management,
    mutating,
)

from reconciler.emulator import Emulator

FIRST = "codex-first@example.com.json"
SECOND = "codex-second@example.com.json"
LIVE_HEADERS = {"X-Keep": "k", "X-Old": "o"}


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"weight": "high"}, "fields.weight: CPA refuses 'high'"),
        ({"weight": 1.0}, "fields.weight: CPA refuses the decimal number 1.0"),
        ({"weight": 2_000_000}, "fields.weight: CPA refuses a weight above 1,000,000"),
        ({"weight": -1}, "fields.weight: CPA stores a negative weight as 0"),
        ({"request_retry": "1"}, "fields.request_retry: CPA refuses '1'"),
        ({"request-retry": 1.5}, "fields.request-retry: CPA refuses the decimal number 1.5"),
        (
            {"request_retry": "${env:RETRIES}"},
            "fields.request_retry: CPA refuses the value of ${env:RETRIES}",
        ),
        ({"headers": {"X-Old": None}}, "fields.headers.X-Old: a headers mapping holding null"),
        ({"headers": {"X-Count": 3}}, "fields.headers.X-Count: CPA sends only string header"),
        ({"headers": ["X-A", "X-B"]}, "fields.headers: headers must be a mapping"),
    ],
)
def test_a_refused_value_sends_no_request(
    project: Project,
    target_env: Emulator,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, object],
    says: str,
) -> None:
    emu = target_env
    monkeypatch.setenv("RETRIES", "3-PLANTED")
    for name in (FIRST, SECOND):
        emu.write_auth_file(name, auth_source(name.split("-", 1)[1], headers=LIVE_HEADERS))
    before = {name: emu.read_auth_file(name) for name in (FIRST, SECOND)}
    # The first entry is a valid change: it must not be applied either.
    files = [
        {"name": FIRST, "fields": {"note": "changed"}},
        {"name": SECOND, "fields": {"note": "changed", **fields}},
    ]
    project.write(desired_doc(files=files))
    emu.reset_requests()

    result = cli("apply", project.desired, "--auto-approve")
    assert result.code == 1, result.text
    assert f"auth-files.files[1].{says}" in result.err, result.err
    assert "desired-state.yaml:" in result.err
    assert "3-PLANTED" not in result.text
    assert management(emu) == [] and mutating(emu) == []
    assert {name: emu.read_auth_file(name) for name in (FIRST, SECOND)} == before


def test_types_cpa_does_not_check_and_a_dotted_null_header_converge(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """CPA stores ``priority: "1"``, ``websockets: "yes"``, ``note: 5`` and ``prefix: [a]`` as
    sent, so they converge; ``headers.X-Old: null`` clears one header and keeps X-Keep."""
    emu = target_env
    emu.write_auth_file(FIRST, auth_source("first@example.com", headers=LIVE_HEADERS))
    odd = {"priority": "1", "websockets": "yes", "note": 5, "prefix": ["a"]}
    files = [{"name": FIRST, "fields": {**odd, "headers.X-Old": None, "weight": 0}}]
    project.write(desired_doc(files=files))

    assert_converges(cli, project.desired)

    stored = emu.read_auth_file(FIRST)
    assert {key: stored[key] for key in odd} == odd
    assert stored["weight"] == 0
    assert stored["headers"] == {"X-Keep": "k", "X-Old": None}
