"""Smoke test of the benchmark: ``python -m bench --quick`` runs and its table holds up.

Only the shape of the table and the request counts are checked, never timings: counts are
exact on any machine, timings are not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
Run = tuple["subprocess.CompletedProcess[str]", list[dict[str, str]]]
WHOLE = "reconciler plan --detailed-exitcode (whole command)"
MINIMAL = "minimal script: python, import httpx, 2 GETs"
IMPORTS = "of the command: start-up and imports"
LOADING = "of the command: loading the desired file"
REST = "of the command: the rest (GETs, plan, render)"
FLOOR = "floor: 2 GETs, bare httpx, imports excluded"
NAIVE = "naive: downloads every file"
PLAN_VARIANTS = (WHOLE, MINIMAL, IMPORTS, LOADING, REST, FLOOR, NAIVE)
COLUMNS = ["scenario", "variant", "requests", "wall", "memory", "target", "result"]


def _rows(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    rows, scenario = [], ""
    for line in lines[2:]:
        row = dict(zip(COLUMNS, (c.strip() for c in line.strip("|").split("|")), strict=True))
        scenario = row["scenario"] or scenario
        rows.append({**row, "scenario": scenario})
    return rows


def _count(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def run() -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    # 0: every target met; 1: a target failed (with --quick only timing ones may); 2: broken.
    assert proc.returncode in (0, 1), proc.stderr
    return proc, _rows(proc.stdout)


def _find(rows: list[dict[str, str]], scenario: str, variant: str) -> dict[str, str]:
    found = [r for r in rows if r["scenario"].startswith(scenario) and r["variant"] == variant]
    assert len(found) == 1, (scenario, variant, rows)
    return found[0]


def test_the_table_has_every_scenario_and_baseline(run: Run) -> None:
    proc, rows = run
    assert proc.stdout.startswith("cpa-reconciler benchmark:")
    assert "auth_cost" in proc.stdout.splitlines()[0]
    scenarios = {r["scenario"] for r in rows}
    assert {"no-change plan, 10 files", "no-change plan, 100 files"} <= scenarios
    assert any(s.startswith("config diff, 1,000-entry api-keys") for s in scenarios)
    assert any(s.startswith("apply, 100 creates") for s in scenarios)
    assert any(s.startswith("daemon, 20 cycles") for s in scenarios)
    for files in ("10", "100"):
        for variant in PLAN_VARIANTS:
            assert _find(rows, f"no-change plan, {files} files", variant)["wall"]
    for row in rows:
        assert row["result"] in ("", "PASS", "FAIL")


def test_a_no_change_plan_costs_two_requests_whatever_the_size(run: Run) -> None:
    _, rows = run
    for files in (10, 100):
        scenario = f"no-change plan, {files} files"
        assert _count(_find(rows, scenario, REST)["requests"]) == 2
        assert _count(_find(rows, scenario, FLOOR)["requests"]) == 2
        assert _count(_find(rows, scenario, NAIVE)["requests"]) == files + 2


def test_the_whole_command_runs_beside_the_minimal_script(run: Run) -> None:
    """The whole command, spawned as a user runs it, sends the same two GETs as the minimal
    script; its time is shown as a multiple of the script's, and split into imports (no
    request), loading and the rest. No timing target below 1,000 files."""
    _, rows = run
    for files in (10, 100):
        scenario = f"no-change plan, {files} files"
        whole = _find(rows, scenario, WHOLE)
        assert _count(whole["requests"]) == 2
        assert "x minimal script; CPU " in whole["wall"]
        assert whole["memory"].startswith("peak ") and whole["memory"].endswith(" MB")
        assert whole["target"] == "= 2 requests"
        assert whole["result"] == "PASS"
        minimal = _find(rows, scenario, MINIMAL)
        assert _count(minimal["requests"]) == 2
        assert minimal["memory"].startswith("peak ")
        assert "(CPU " in minimal["wall"]
        assert _count(_find(rows, scenario, IMPORTS)["requests"]) == 0
        assert _find(rows, scenario, LOADING)["requests"] == ""
        assert "reads past loading" in _find(rows, scenario, REST)["wall"]


def test_creates_are_batched_and_the_baseline_is_one_per_file(run: Run) -> None:
    _, rows = run
    apply = _find(rows, "apply, 100 creates", "reconciler apply")
    assert _count(apply["requests"]) <= 10
    assert apply["result"] == "PASS"
    single = _find(rows, "apply, 100 creates", "one request per file")
    assert _count(single["requests"]) == 100


def test_the_daemon_row_shows_memory_at_start_and_end(run: Run) -> None:
    _, rows = run
    daemon = next(r for r in rows if r["scenario"].startswith("daemon, 20 cycles"))
    assert _count(daemon["requests"]) >= 2 * 20
    assert daemon["memory"].startswith("RSS ") and "->" in daemon["memory"]
    assert daemon["result"] in ("PASS", "FAIL")  # memory varies by machine: shape only


def test_the_quota_row_counts_one_listing_and_one_api_call_per_credential(run: Run) -> None:
    _, rows = run
    ours = _find(
        rows, "status --quota, 20 credentials", "reconciler status --quota (concurrency 4)"
    )
    single = _find(rows, "status --quota, 20 credentials", "the same reads one at a time")
    assert _count(ours["requests"]) == _count(single["requests"]) == 21


FLEET = "fleet no-change plan, 10 targets x 10 files (spread)"
FLEET_WHOLE = "reconciler plan FLEET --detailed-exitcode (whole command)"
FLEET_SINGLE = "single-server plan, 10 files, same config (whole command)"
FLEET_PARTS = (
    "of the fleet command, imports excluded",
    "of it: loading the fleet file",
    "of it: the clients (one per target, one shared TLS context)",
    "of it: reading the targets (parallel GETs, parsing)",
    "of it: the fleet plan (placement, identity, diffs)",
    "of it: rendering",
)


def test_the_fleet_plan_costs_two_requests_per_server_beside_a_single_server_plan(
    run: Run,
) -> None:
    """Issue 14: a no-change plan over 10 emulators (each holding the files spread places on
    it) sends 2 requests to each server, shown beside the single-server plan of one server's
    share; its time is split by the functions the command calls."""
    _, rows = run
    whole = _find(rows, FLEET, FLEET_WHOLE)
    assert _count(whole["requests"]) == 2 * 10
    assert whole["target"] == "= 2 requests per server (2); <= 1.5x single-server plan"
    assert whole["result"] in ("PASS", "FAIL")  # the timing part varies by machine
    assert "x single-server plan; CPU " in whole["wall"]
    assert whole["memory"].startswith("peak ")
    single = _find(rows, FLEET, FLEET_SINGLE)
    assert _count(single["requests"]) == 2
    assert _count(_find(rows, FLEET, FLEET_PARTS[0])["requests"]) == 20
    floor = _find(rows, FLEET, "floor: 2 GETs per server, 10 servers at once, bare httpx")
    assert _count(floor["requests"]) == 20
    minimal = _find(
        rows, FLEET, "minimal fleet script: python, import httpx, 2 GETs per server, 10 at once"
    )
    assert _count(minimal["requests"]) == 20
    assert "x single-server plan; CPU " in minimal["wall"]
    for variant in FLEET_PARTS[1:]:
        assert _find(rows, FLEET, variant)["wall"].endswith("%)")
