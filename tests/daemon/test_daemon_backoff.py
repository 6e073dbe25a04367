"""The backoff policies as tables: capped exponential after failures, the auth hold."""

from __future__ import annotations

import pytest

from reconciler.daemon.backoff import KEY_CHANGE_BUDGET, AuthHold, FailureBackoff, Gate


@pytest.mark.parametrize(
    ("interval", "delays"),
    [
        (60.0, [120, 240, 480, 600, 600]),
        (1.0, [2, 4, 8, 16, 32]),
        (900.0, [900, 900]),  # an interval longer than the cap is the cap
    ],
)
def test_failure_backoff_doubles_up_to_the_cap(interval: float, delays: list[float]) -> None:
    policy = FailureBackoff(interval)
    for expected in delays:
        assert policy.failed(now=0.0) == expected
    assert not policy.ready(now=delays[-1] - 0.1)
    assert policy.ready(now=delays[-1])
    policy.succeeded()
    assert policy.ready(now=0.0)
    assert policy.failed(now=0.0) == delays[0]


def test_auth_hold_sequence() -> None:
    hold = AuthHold(window=100.0)
    steps: list[tuple[str, float, str, Gate | float]] = [
        ("gate", 0, "k1", Gate.SEND),
        ("refused", 0, "k1", 100.0),
        ("gate", 50, "k1", Gate.HOLD),  # same key, inside the window
        ("gate", 99.9, "k1", Gate.HOLD),
        ("gate", 100, "k1", Gate.RETRY_WINDOW_ENDED),
        ("refused", 100, "k1", 200.0),  # the hold doubles
        ("gate", 150, "k2", Gate.RETRY_KEY_CHANGED),  # a new key is tried at once
        ("refused", 150, "k2", 400.0),
        ("refused", 550, "k3", 400.0),  # capped at 4x
    ]
    for n, (op, now, key, expected) in enumerate(steps):
        got = hold.gate(now, key) if op == "gate" else hold.refused(now, key)
        assert got == expected, f"step {n}: {op} at {now}"
    hold.succeeded()
    assert hold.gate(0, "k1") is Gate.SEND
    assert hold.refused(0, "k1") == 100.0


def test_a_changed_key_waits_once_the_failure_budget_is_spent() -> None:
    hold = AuthHold(window=100.0)
    for n in range(KEY_CHANGE_BUDGET):
        hold.refused(0, f"k{n}")
    assert hold.failures_since_success == KEY_CHANGE_BUDGET
    assert hold.gate(1, "another") is Gate.HOLD


def test_uncounted_refusals_do_not_spend_the_budget() -> None:
    hold = AuthHold(window=100.0)
    for n in range(KEY_CHANGE_BUDGET + 2):
        hold.refused(0, f"k{n}", counted=False)  # e.g. 403 while banned
    assert hold.gate(1, "another") is Gate.RETRY_KEY_CHANGED
