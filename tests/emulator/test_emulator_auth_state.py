"""The control API puts a credential into each state CPA's ``GET /auth-files`` reports.

A real CPA sets ``status``, ``status_message``, ``unavailable``, ``next_retry_after``, the
counters and ``recent_requests`` from proxied traffic; the emulator lets tests set them through
``POST /_emulator/auth-state``. Each listed entry keeps the recorded key set (plus
``next_retry_after`` when cooling down, as CPA adds it only when set), and codex files list the
``id_token`` claims CPA decodes from the JWT.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime

import httpx
import pytest
from emulator_support import client, recorded

from reconciler.emulator import Emulator

CODEX = b'{"type":"codex","email":"alice@example.com","access_token":"a1","expired":"2030-01-01T00:00:00Z"}'
RECORDED_KEYS = set(json.loads(recorded("GET-auth-files.json"))["files"][0]) - {"note", "priority"}


def _jwt(claims: dict[str, object]) -> str:
    def seg(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'none'})}.{seg(claims)}.sig"


@pytest.fixture
def control(emulator: Emulator):
    with client(emulator.url + "/_emulator") as http:
        yield http


def _entry(mgmt: httpx.Client, name: str = "codex-alice.json") -> dict[str, object]:
    files = mgmt.get("/auth-files").json()["files"]
    found: dict[str, object] = next(f for f in files if f["name"] == name)
    return found


def _upload(mgmt: httpx.Client, name: str = "codex-alice.json", body: bytes = CODEX) -> None:
    assert mgmt.post("/auth-files", params={"name": name}, content=body).status_code == 200


def test_error_state_with_status_message(mgmt: httpx.Client, control: httpx.Client) -> None:
    _upload(mgmt)
    answer = control.post(
        "/auth-state",
        json={"name": "codex-alice.json", "status": "error", "status_message": "token revoked"},
    )
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    entry = _entry(mgmt)
    assert set(entry) == RECORDED_KEYS
    assert (entry["status"], entry["status_message"], entry["disabled"]) == (
        "error",
        "token revoked",
        False,
    )
    assert entry["unavailable"] is False


def test_cooling_down_lists_next_retry_after(mgmt: httpx.Client, control: httpx.Client) -> None:
    _upload(mgmt)
    control.post(
        "/auth-state",
        json={
            "name": "codex-alice.json",
            "status": "error",
            "status_message": "quota exhausted",
            "unavailable": True,
            "next_retry_after": 1800,
        },
    )
    entry = _entry(mgmt)
    assert set(entry) == RECORDED_KEYS | {"next_retry_after"}
    assert entry["unavailable"] is True
    when = datetime.fromisoformat(str(entry["next_retry_after"]).replace("Z", "+00:00"))
    assert abs(when.timestamp() - (time.time() + 1800)) < 5


def test_disabled_is_persisted_like_patch_status(
    emulator: Emulator, mgmt: httpx.Client, control: httpx.Client
) -> None:
    _upload(mgmt)
    control.post("/auth-state", json={"name": "codex-alice.json", "disabled": True})
    entry = _entry(mgmt)
    assert (entry["status"], entry["disabled"], entry["status_message"]) == ("disabled", True, "")
    assert emulator.read_auth_file("codex-alice.json")["disabled"] is True


def test_counts_recent_requests_and_last_refresh(mgmt: httpx.Client, control: httpx.Client) -> None:
    _upload(mgmt)
    control.post(
        "/auth-state",
        json={
            "name": "codex-alice.json",
            "success": 40,
            "failed": 3,
            "recent": [{"success": 5, "failed": 1}, {"success": 7, "failed": 2}],
            "last_refresh": "2026-12-01T10:00:00Z",
        },
    )
    entry = _entry(mgmt)
    assert (entry["success"], entry["failed"]) == (40, 3)
    buckets = entry["recent_requests"]
    assert isinstance(buckets, list) and len(buckets) == 20
    assert [(b["success"], b["failed"]) for b in buckets[-2:]] == [(5, 1), (7, 2)]
    assert all(b["success"] == b["failed"] == 0 for b in buckets[:-2])
    assert entry["last_refresh"] == "2026-12-01T10:00:00Z"
    assert entry["status"] == "active"


def test_state_survives_a_rewrite_and_delete_clears_it(
    emulator: Emulator, mgmt: httpx.Client, control: httpx.Client
) -> None:
    _upload(mgmt)
    control.post("/auth-state", json={"name": "codex-alice.json", "status": "error"})
    emulator.refresh_auth_file("codex-alice.json")  # the file is rewritten
    assert _entry(mgmt)["status"] == "error"
    cleared = control.delete("/auth-state", params={"name": "codex-alice.json"})
    assert cleared.status_code == 200
    assert _entry(mgmt)["status"] == "active"


def test_python_api_sets_the_same_state(emulator: Emulator, mgmt: httpx.Client) -> None:
    _upload(mgmt)
    emulator.set_auth_state("codex-alice.json", status="error", status_message="bad")
    assert _entry(mgmt)["status_message"] == "bad"
    emulator.clear_auth_state("codex-alice.json")
    assert _entry(mgmt)["status_message"] == ""


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "nope.json", "status": "error"}, 404),
        ({"status": "error"}, 400),
        ({"name": "codex-alice.json", "status": "broken"}, 400),
        ({"name": "codex-alice.json", "unavailable": "yes"}, 400),
        ({"name": "codex-alice.json", "next_retry_after": "soon"}, 400),
        ({"name": "codex-alice.json", "recent": [1]}, 400),
        ({"name": "codex-alice.json", "failed": -1}, 400),
    ],
)
def test_bad_state_requests_are_refused(
    mgmt: httpx.Client, control: httpx.Client, body: dict[str, object], status: int
) -> None:
    _upload(mgmt)
    assert control.post("/auth-state", json=body).status_code == status
    assert _entry(mgmt)["status"] == "active"


def test_codex_lists_id_token_claims(mgmt: httpx.Client) -> None:
    token = _jwt(
        {
            "email": "alice@example.com",
            "https://api.openai.com/auth": {
                "chatgpt_account_id": "acct-123",
                "chatgpt_plan_type": "plus",
            },
        }
    )
    data = json.loads(CODEX)
    data["id_token"] = token
    _upload(mgmt, body=json.dumps(data).encode())
    entry = _entry(mgmt)
    assert entry["id_token"] == {"chatgpt_account_id": "acct-123", "plan_type": "plus"}


def test_codex_without_a_jwt_lists_no_id_token(mgmt: httpx.Client) -> None:
    _upload(mgmt)
    assert "id_token" not in _entry(mgmt)
