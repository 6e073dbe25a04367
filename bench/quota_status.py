"""``reconciler status --quota`` over many credentials: bounded concurrency against one at a time.

The emulator checks the key with its bcrypt cost (``auth_cost``, 60 ms) on every request, and
its ``api-call`` calls a fake provider on loopback (tests/quota/fake_provider.py) answering in
50 ms. Requests must be 1 listing + 1 api-call per enabled credential (all codex here: no
fallbacks); the wall time with the default concurrency is held to 0.35x of the same reads done
one at a time (``--quota-concurrency 1``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bench.fixtures import seeded_emulator
from bench.runner import BenchError, reconciler_command, run_command
from bench.table import Row, count, megabytes, seconds, verdict

QUOTA_RATIO = 0.35
UPSTREAM_SECONDS = 0.05
DEFAULT_CONCURRENCY = 4

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "quota"))


def quota_rows(files: int, auth_cost: float, progress: Callable[[str], None]) -> list[Row]:
    from fake_provider import FakeProvider  # tests/quota: the same fake the tests use

    say = progress
    scenario = f"status --quota, {count(files)} credentials"
    results = {}
    with (
        FakeProvider(delay=UPSTREAM_SECONDS) as fake,
        seeded_emulator(files=files, keys=0, auth_cost=auth_cost) as emu,
    ):
        for concurrency in (DEFAULT_CONCURRENCY, 1):
            say(f"{scenario}: --quota-concurrency {concurrency}")
            argv = [
                *reconciler_command(),
                "status",
                "--quota",
                "--json",
                "--quota-endpoint",
                f"codex={fake.url}",
                "--quota-concurrency",
                str(concurrency),
            ]
            results[concurrency] = run_command(f"status-quota-{concurrency}", argv, emu)
            if fake.unexpected:
                raise BenchError(f"{scenario}: the fake provider got {fake.unexpected[:3]}")
    expected = 1 + files
    ours, single = results[DEFAULT_CONCURRENCY], results[1]
    ratio = ours["wall"] / single["wall"]
    ok = ours["requests"] == expected and ratio <= QUOTA_RATIO
    return [
        Row(
            scenario,
            f"reconciler status --quota (concurrency {DEFAULT_CONCURRENCY})",
            count(ours["requests"]),
            seconds(ours["wall"]),
            megabytes(ours["peak_mb"]),
            f"{count(expected)} requests; <= {QUOTA_RATIO}x one at a time ({ratio:.2f}x)",
            verdict(ok),
        ),
        Row(
            "",
            "the same reads one at a time",
            count(single["requests"]),
            seconds(single["wall"]),
            megabytes(single["peak_mb"]),
        ),
    ]
