"""Must-show 3: the daemon with ``--quota-interval 1`` exports credential health and quota.

Against the emulator and the fake provider (tests/quota/fake_provider.py, real HTTP on
loopback): the metrics carry the payloads' values; a window going to 100 % gives one
``quota.exhausted`` and, when it drops, one ``quota.recovered``; a credential the server marks
failing gives ``credential.unhealthy`` once; a deleted credential's series disappear; no token
or key reaches the output or /metrics.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from daemon_helpers import ALICE, BOB, StartDaemon, assert_no_secrets, wait_until

from reconciler.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "quota"))
from fake_provider import FakeProvider

CAROL = "codex-carol@example.com.json"


def _file(kind: str, who: str) -> dict[str, str]:
    return {
        "type": kind,
        "email": f"{who}@example.com",
        "access_token": f"AT-{who}-PLANTED",
        "refresh_token": f"RT-{who}-PLANTED",
        "expired": "2030-01-01T00:00:00Z",
    }


@pytest.fixture
def fake() -> FakeProvider:
    with FakeProvider() as server:
        yield server


def _series(metrics: dict[str, float], name: str, credential: str) -> dict[str, float]:
    return {
        k: v for k, v in metrics.items() if k.startswith(name + "{") and f'name="{credential}"' in k
    }


def test_daemon_exports_health_and_quota_with_one_event_per_transition(
    converged: Emulator, desired: Path, daemon: StartDaemon, fake: FakeProvider
) -> None:
    cpa = converged
    cpa.write_auth_file(ALICE, _file("codex", "alice"))
    cpa.write_auth_file(BOB, _file("claude", "bob"))
    cpa.write_auth_file(CAROL, _file("codex", "carol"))
    proc = daemon(
        desired,
        "--interval",
        "1",
        "--quota-interval",
        "1",
        "--quota-endpoint",
        f"codex={fake.url}",
        "--quota-endpoint",
        f"claude={fake.url}",
    )
    used = "reconciler_credential_quota_used_ratio"
    alice_5h = f'{used}{{name="{ALICE}",provider="codex",window="five-hour"}}'
    bob_7d = f'{used}{{name="{BOB}",provider="claude",window="seven-day"}}'
    wait_until(lambda: proc.metric(alice_5h) == 0.42, "alice's five-hour ratio")
    metrics = proc.metrics()
    assert metrics[bob_7d] == 0.35
    reset = f'reconciler_credential_quota_reset_timestamp_seconds{{name="{ALICE}",provider="codex",window="five-hour"}}'
    assert metrics[reset] == int(fake.now) + 3600
    for name, provider in ((ALICE, "codex"), (BOB, "claude"), (CAROL, "codex")):
        assert metrics[f'reconciler_credential_up{{name="{name}",provider="{provider}"}}'] == 1
        state = f'reconciler_credential_state{{name="{name}",provider="{provider}",state="ok"}}'
        assert metrics[state] == 1
    assert metrics["reconciler_quota_last_success_timestamp_seconds"] > 0

    def quota_runs(more: int) -> None:
        start = proc.metric("reconciler_quota_last_success_timestamp_seconds")
        for _ in range(more):
            wait_until(
                lambda s=start: proc.metric("reconciler_quota_last_success_timestamp_seconds") > s,
                "another quota run",
            )
            start = proc.metric("reconciler_quota_last_success_timestamp_seconds")

    full = {"rate_limit": {"primary_window": {"used_percent": 100, "limit_window_seconds": 18000}}}
    fake.set_payload("AT-alice-PLANTED", "codex", full)
    proc.wait_for("quota.exhausted", name=ALICE, window="five-hour")
    quota_runs(2)
    assert len(proc.all("quota.exhausted", name=ALICE)) == 1
    assert proc.metric(alice_5h) == 1.0
    fake.set_payload(
        "AT-alice-PLANTED",
        "codex",
        {"rate_limit": {"primary_window": {"used_percent": 10, "limit_window_seconds": 18000}}},
    )
    proc.wait_for("quota.recovered", name=ALICE, window="five-hour")
    quota_runs(2)
    assert len(proc.all("quota.recovered", name=ALICE)) == 1
    assert not _series(proc.metrics(), used, ALICE).get(
        f'{used}{{name="{ALICE}",provider="codex",window="weekly"}}'
    )  # the weekly window is gone from this payload: its series too

    cpa.set_auth_state(BOB, status="error", status_message="token revoked")
    event = proc.wait_for("credential.unhealthy", name=BOB)
    assert (event["state"], event["status_message"]) == ("error", "token revoked")
    proc.wait_cycles(2)
    assert len(proc.all("credential.unhealthy")) == 1
    assert proc.metric(f'reconciler_credential_up{{name="{BOB}",provider="claude"}}') == 0

    fake.behave("AT-carol-PLANTED", "401")
    proc.wait_for("quota.error", name=CAROL)
    assert proc.all("quota.error", name=CAROL)[0]["class"] == "auth_invalid"
    (cpa.auth_dir / CAROL).unlink()
    wait_until(
        lambda: not any(f'name="{CAROL}"' in k for k in proc.metrics()), "carol's series gone"
    )
    assert not any(f'name="{CAROL}"' in k for k in proc.metrics())

    text = proc.get("/metrics").text
    assert proc.terminate() == 0
    assert_no_secrets(proc.output() + proc.stderr + text)
    assert fake.unexpected == []


def test_a_credential_deleted_during_a_quota_read_is_no_quota_error(
    converged: Emulator, desired: Path, daemon: StartDaemon, fake: FakeProvider
) -> None:
    """CPA sends a deleted credential's ``$TOKEN$`` upstream literally, and the provider refuses
    it as if the credential were dead: the quota job looks such a call up in a second listing
    (``reader.recheck_gone``) and reports no ``quota.error`` for a file that is gone."""
    cpa = converged
    cpa.write_auth_file("claude-a.json", _file("claude", "a"))
    cpa.write_auth_file("claude-b.json", _file("claude", "b"))
    fake.behave("$TOKEN$", "401")  # what a real upstream answers to the literal placeholder
    fake.delay = 0.6  # the first call is held while claude-b.json is deleted
    proc = daemon(
        desired,
        "--interval",
        "60",
        "--quota-interval",
        "1",
        "--quota-concurrency",
        "1",
        "--quota-endpoint",
        f"claude={fake.url}",
    )
    wait_until(lambda: bool(fake.seen), "the first quota call")
    (cpa.auth_dir / "claude-b.json").unlink()  # deleted after the listing
    wait_until(
        lambda: proc.metric("reconciler_quota_last_success_timestamp_seconds") > 0,
        "a quota run to the end",
    )
    assert proc.all("quota.error", name="claude-b.json") == []
    assert proc.terminate() == 0
