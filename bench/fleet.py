"""A no-change plan over a fleet (issue 14): ``reconciler plan FLEET --detailed-exitcode`` over
10 emulators, against a single-server plan of one server's share, side by side in one run.

Every emulator runs in a process of its own (``bench.served``), as real servers run on
machines of their own, with the auth cost, its own port and the same management key; the
single-server plan's emulator too, so that both sides are served alike. The fleet file
declares ``targets x files`` auth files placed by ``spread`` (rendezvous hashing,
``reconciler.core.fleet.placement``), and each emulator is seeded with exactly the files the
placement gives it (about ``files`` each): nothing to create, move or delete, so the plan
exits 0. Its config section is the one of the single-server desired
state beside it (``debug: false`` and ``fleet_api_keys`` api-keys, the servers holding the
same), and its file entries have the same shape (source, ``disabled``, ``priority``, ``note``).

Targets: 2 requests per server (``GET /config.yaml`` and ``GET /auth-files``, nothing else) and
the whole fleet command within 1.5x the whole single-server plan of ``files`` files. Beside
them, the minimal fleet script (``bench/two_gets.py`` with every server's URL: Python,
``import httpx``, each server's two GETs at once, nothing parsed): what any fleet plan must
cost on this machine, its servers included.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.fixtures import file_name, write_desired, write_fleet_desired
from bench.runner import BenchError, reconciler_command, run_command, run_job, two_gets_command
from bench.served import ServeSpec, served_emulators
from bench.table import Row, count, megabytes, seconds, verdict
from reconciler.core.fleet import FleetTarget, placement

FLEET_RATIO = 1.5  # whole fleet plan / whole single-server plan
PER_SERVER = 2  # requests of a no-change plan on each server


def target_names(targets: int) -> list[str]:
    return [f"cpa-{index:02d}" for index in range(1, targets + 1)]


def spread(targets: list[str], files: int) -> dict[str, list[int]]:
    """Target -> the indices of the files ``spread`` places on it (the fleet code's own
    placement, so the servers hold exactly what the plan expects)."""
    names = {file_name(index): index for index in range(files)}
    placed = placement(names, {}, [FleetTarget(name) for name in targets])
    out: dict[str, list[int]] = {name: [] for name in targets}
    for name, target in placed.items():
        out[target].append(names[name])
    return out


def _median(answers: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(a[key]) for a in answers)


def _per_server(answers: list[dict[str, Any]]) -> list[int]:
    counts = {tuple(a["requests_each"]) for a in answers}
    if len(counts) != 1:
        raise BenchError(f"fleet: request counts differ between repeats: {sorted(counts)}")
    return list(counts.pop())


def fleet_rows(
    *,
    targets: int,
    files: int,
    keys: int,
    auth_cost: float,
    repeat: int,
    progress: Callable[[str], None],
) -> list[Row]:
    """The whole fleet plan beside the whole single-server plan, and the fleet plan's time
    split by the functions it calls."""
    names = target_names(targets)
    shares = spread(names, targets * files)
    scenario = f"fleet no-change plan, {targets} targets x {count(files)} files (spread)"
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fleet-")))
        specs = [ServeSpec(0, keys, auth_cost, tuple(shares[name])) for name in names]
        *servers, single_emu = stack.enter_context(
            served_emulators([*specs, ServeSpec(files, keys, auth_cost)])
        )
        fleet_file = write_fleet_desired(
            tmp / "fleet",
            files=targets * files,
            keys=keys,
            urls={name: server.url for name, server in zip(names, servers, strict=True)},
        )
        single_file = write_desired(tmp / "single", files=files, keys=keys, url=single_emu.url)
        fleet_cmd = [*reconciler_command(), "plan", str(fleet_file), "--detailed-exitcode"]
        single_cmd = [*reconciler_command(), "plan", str(single_file), "--detailed-exitcode"]
        progress(f"{scenario}: warm-up (bytecode, caches), not measured")
        run_command("single-server plan", single_cmd, single_emu)
        run_command("fleet plan", fleet_cmd, servers)
        minimal_cmd = two_gets_command(*(server.url for server in servers))
        run_command("minimal fleet script", minimal_cmd, servers)
        floor_spec = {"urls": [e.url for e in servers]}
        fleets, singles, splits, single_splits, floors, minimals = [], [], [], [], [], []
        for run in range(repeat):
            progress(f"{scenario}: run {run + 1}/{repeat}")
            singles.append(run_command("single-server plan", single_cmd, single_emu))
            fleets.append(run_command("fleet plan", fleet_cmd, servers))
            minimals.append(run_command("minimal fleet script", minimal_cmd, servers))
            split_spec = {"desired": str(fleet_file), "targets": targets}
            splits.append(run_job("fleet-plan", split_spec, servers))
            single_splits.append(run_job("plan", {"desired": str(single_file)}, single_emu))
            floors.append(run_job("fleet-floor", floor_spec, servers))
    return _rows(scenario, files, fleets, singles, splits, single_splits, floors, minimals)


def _rows(
    scenario: str,
    files: int,
    fleets: list[dict[str, Any]],
    singles: list[dict[str, Any]],
    splits: list[dict[str, Any]],
    single_splits: list[dict[str, Any]],
    floors: list[dict[str, Any]],
    minimals: list[dict[str, Any]],
) -> list[Row]:
    each = _per_server(fleets)
    if _per_server(minimals) != [PER_SERVER] * len(each):
        raise BenchError("fleet: the minimal fleet script sent other requests than two a server")
    single_requests = _per_server(singles)[0]
    if _per_server(splits) != each:
        raise BenchError("fleet: the in-process plan sent other requests than the command")
    fleet_wall, single_wall = _median(fleets, "wall"), _median(singles, "wall")
    ratio = fleet_wall / single_wall
    ok = all(n == PER_SERVER for n in each) and ratio <= FLEET_RATIO
    spread_each = f"{min(each)}-{max(each)}" if min(each) != max(each) else str(each[0])
    inner = _median(splits, "wall")

    def part(key: str) -> str:
        value = _median(splits, key)
        return f"{seconds(value)} ({value / inner:.0%})"

    return [
        Row(
            scenario,
            "reconciler plan FLEET --detailed-exitcode (whole command)",
            count(sum(each)),
            f"{seconds(fleet_wall)} ({ratio:.2f}x single-server plan; "
            f"CPU {seconds(_median(fleets, 'cpu'))})",
            f"peak {megabytes(_median(fleets, 'peak_mb'))}",
            f"= {PER_SERVER} requests per server ({spread_each}); "
            f"<= {FLEET_RATIO:g}x single-server plan",
            verdict(ok),
        ),
        Row(
            "",
            f"single-server plan, {count(files)} files, same config (whole command)",
            count(single_requests),
            f"{seconds(single_wall)} (CPU {seconds(_median(singles, 'cpu'))})",
            f"peak {megabytes(_median(singles, 'peak_mb'))}",
        ),
        Row(
            "",
            f"minimal fleet script: python, import httpx, 2 GETs per server, {len(each)} at once",
            count(sum(_per_server(minimals))),
            f"{seconds(_median(minimals, 'wall'))} "
            f"({_median(minimals, 'wall') / single_wall:.2f}x single-server plan; "
            f"CPU {seconds(_median(minimals, 'cpu'))})",
            f"peak {megabytes(_median(minimals, 'peak_mb'))}",
        ),
        Row(
            "",
            "  of the fleet command, imports excluded",
            count(sum(each)),
            seconds(inner),
            megabytes(_median(splits, "peak_mb")),
        ),
        Row("", "  of it: loading the fleet file", wall=part("load_wall")),
        Row(
            "",
            "  of it: the clients (one per target, one shared TLS context)",
            wall=part("clients_wall"),
        ),
        Row("", "  of it: reading the targets (parallel GETs, parsing)", wall=part("read_wall")),
        Row("", "  of it: the fleet plan (placement, identity, diffs)", wall=part("plan_wall")),
        Row("", "  of it: rendering", wall=part("render_wall")),
        Row(
            "",
            f"  floor: 2 GETs per server, {len(each)} servers at once, bare httpx",
            count(sum(_per_server(floors))),
            seconds(_median(floors, "wall")),
            megabytes(_median(floors, "peak_mb")),
        ),
        Row(
            "",
            "  single-server plan, imports excluded",
            count(single_requests),
            f"{seconds(_median(single_splits, 'wall'))} (loading "
            f"{seconds(_median(single_splits, 'load_wall'))})",
            megabytes(_median(single_splits, "peak_mb")),
        ),
    ]
