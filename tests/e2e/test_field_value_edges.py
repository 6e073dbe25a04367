"""Edge values in auth-file ``fields`` either converge or are refused before any request.

Decisions recorded here (see ``_check_field_value`` in reconciler/desired/loader.py):

* CPA stores ``note``, ``prefix``, ``proxy_url`` and other plain fields in the file as sent,
  blank or padded (only its runtime copy and the listing's ``note`` are trimmed), so such a
  value is accepted and converges: the plan reads the file when the listing's trimmed note
  does not match.
* Header values and names CPA trims or drops, and a negative ``request_retry``, are refused
  by the loader (exit 1, no request): they could never be converged. A trimmed header value
  converges even when the live file holds a padded one, and ``headers.<name>: null`` clears a
  header.
"""

from __future__ import annotations

import httpx
from e2e_helpers import (
    KEY,
    Cli,
    Project,
    assert_converges,
    auth_source,
    desired_doc,
    management,
    mutating,
)

from reconciler.emulator import Emulator

OLD = "codex-old@example.com.json"
NEW = "codex-new@example.com.json"
EDGES = {
    "note": "  padded note  ",
    "prefix": " team-a",
    "proxy_url": "",
    "priority": 0,
    "headers": {"X-Team": "a b"},
    "headers.X-Gone": None,
    "labels.owner": " as written ",
}


def _listed(emu: Emulator, name: str) -> dict[str, object]:
    answer = httpx.get(
        f"{emu.management_url}/auth-files",
        params={"name": name},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5.0,
    )
    entry: dict[str, object] = answer.json()["files"][0]
    return entry


def test_blank_and_padded_plain_fields_converge(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    live_headers = {"X-Team": " a b ", "X-Gone": "g", " X-Pad ": " p "}
    emu.write_auth_file(OLD, auth_source("old@example.com", note="other", headers=live_headers))
    source = project.source("auth/new.json", auth_source("new@example.com"))
    files = [{"name": OLD, "fields": EDGES}, {"name": NEW, "source": source, "fields": EDGES}]
    project.write(desired_doc(files=files))

    assert_converges(cli, project.desired)

    for name in (OLD, NEW):
        data = emu.read_auth_file(name)
        assert (data["note"], data["prefix"], data["proxy_url"]) == (
            "  padded note  ",
            " team-a",
            "",
        )
        assert data["labels"] == {"owner": " as written "}
        assert data["headers"]["X-Team"] == "a b"
        assert data["headers"].get("X-Gone") is None
        assert _listed(emu, name)["note"] == "padded note"  # the listing trims it
    # The headers merge rewrote the padded header the old file already had, as CPA does.
    assert emu.read_auth_file(OLD)["headers"]["X-Pad"] == "p"


def test_a_header_value_cpa_would_trim_is_refused_before_any_request(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file(OLD, auth_source("old@example.com"))
    files = [{"name": OLD, "fields": {"note": "n", "headers": {"X-Team": " a "}}}]
    project.write(desired_doc(files=files))
    emu.reset_requests()

    result = cli("apply", project.desired, "--auto-approve")
    assert result.code == 1, result.text
    assert "auth-files.files[0].fields.headers.X-Team: CPA trims header values" in result.err
    assert "desired-state.yaml:" in result.err
    assert management(emu) == [] and mutating(emu) == []
