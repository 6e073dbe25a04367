"""``python -m bench [--quick] [--sizes N,N,...] [--markdown]``: run the benchmark, print the table.

Exit status: 0 when every target passed, 1 when one failed, 2 when a job could not run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence

from bench.runner import BenchError
from bench.scenarios import SCENARIOS, Settings, all_rows
from bench.table import Row, render_markdown, render_text

QUICK = Settings(
    plan_sizes=(10, 100),
    api_keys=1_000,
    creates=100,
    daemon_cycles=20,
    daemon_files=10,
    daemon_api_keys=10,
    repeat=1,
    auth_cost=0.0,
    diff_runs=3,
    quota_credentials=20,
    fleet_targets=10,
    fleet_files=10,
    fleet_api_keys=10,
)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from exc
    if not sizes or min(sizes) < 0:
        raise argparse.ArgumentTypeError("sizes must be numbers >= 0")
    return sizes


def _only(text: str) -> frozenset[str]:
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = names - set(SCENARIOS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(SCENARIOS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and no auth cost: a smoke test in seconds (the targets on request "
        "counts still hold; the timing ones mean little)",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        help="auth-file counts for the no-change plan (default 100,1000,10000)",
    )
    parser.add_argument("--api-keys", type=int, help="entries in the api-keys list (default 10000)")
    parser.add_argument("--creates", type=int, help="auth files the apply creates (default 1000)")
    parser.add_argument("--cycles", type=int, help="daemon cycles (default 1000)")
    parser.add_argument("--repeat", type=int, help="runs per plan figure, median (default 3)")
    parser.add_argument(
        "--auth-cost",
        type=float,
        help="seconds the emulator spends per authenticated request (default 0.06, the real "
        "server's bcrypt check; 0 with --quick)",
    )
    parser.add_argument(
        "--only",
        type=_only,
        help=f"comma-separated scenarios to run, of {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--no-naive",
        dest="naive",
        action="store_false",
        help="leave out the naive baseline of the plan (one download per file: ~11 min at "
        "10,000 files with the auth cost)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else Settings()
    overrides = {
        "plan_sizes": args.sizes,
        "api_keys": args.api_keys,
        "creates": args.creates,
        "daemon_cycles": args.cycles,
        "repeat": args.repeat,
        "auth_cost": args.auth_cost,
        "only": args.only,
        "naive": None if args.naive else False,
    }
    values = {**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(**values)


def title(settings: Settings) -> str:
    return (
        "cpa-reconciler benchmark: CPA v7.2.140 emulator in-process (fleet: one process each), "
        f"auth_cost {settings.auth_cost:g} s per authenticated request; {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def notes(settings: Settings) -> list[str]:
    return [
        f"requests: counted in the emulator's request log. wall: median of {settings.repeat} "
        "interleaved runs for the plan rows. Whole commands (the plan, the minimal script, the "
        "imports) are spawned as a user runs them and timed from spawn to exit, with their "
        "bytecode cached as an installed package has it; CPU is their user + system time "
        "(the server's work is not in it; other load on the machine inflates it far less than "
        "wall time); memory there is the command's peak RSS. Every other job runs in a fresh subprocess with its imports excluded; memory "
        "there is its peak RSS growth (VmHWM, reset after the imports, minus VmRSS before; "
        "ru_maxrss would carry the parent's peak across exec).",
        f"plan: `reconciler plan DESIRED --detailed-exitcode` (the console script; exit 0 = no "
        f"changes) on a desired state declaring every file (source, disabled, priority, note) "
        f"and {settings.api_keys:,} api-keys, the server holding exactly that. minimal script: "
        "Python, `import httpx`, GET /config.yaml and GET /auth-files, nothing parsed "
        "(bench/two_gets.py). The command parses a desired file of 256 KiB or more on a second "
        "core while it imports (desired.parse_ahead), as a user's run does. "
        "The whole command is held to 1.5x the minimal script at 1,000 "
        "files and 2x at 10,000. 'of the command': start-up and imports are the plan's imports "
        "alone (`python -c` building the plan command); loading and the rest are timed inside "
        "the real command (reconciler.cli.main, imports excluded) by clocks around "
        "planning.load (the two reads in flight meanwhile once the key is known to work: "
        "pipeline.prefetch) and prefetch.Prefetch.take plus live.fetch_live ('reads past "
        "loading': waiting for them). floor: the two GETs with bare "
        "httpx, the listing parsed with json, imports excluded; the command's time past loading "
        "is held to 1.5x of it at the largest size. naive: the floor plus GET "
        "/auth-files/download for every file.",
        f"fleet: `reconciler plan FLEET --detailed-exitcode` on a fleet file of "
        f"{settings.fleet_targets} targets (one emulator each, same key) and "
        f"{settings.fleet_targets * settings.fleet_files:,} auth files placed by spread, each "
        "server seeded with exactly its share (exit 0), beside `reconciler plan` of one "
        f"server's {settings.fleet_files:,} files; both with the config `debug: false` and "
        f"{settings.fleet_api_keys:,} api-keys (the servers holding the same) and the same "
        "file entries. Held to 2 requests per server and 1.5x the single-server plan. minimal "
        "fleet script: bench/two_gets.py with every server's URL (Python, `import httpx`, each "
        "server's two GETs at once, nothing parsed), spawned as the commands are. 'of it': "
        "clocks inside the real command around desired.fleet.load_fleet, "
        "planning.make_client (once per target), pipeline.fleet.read_fleet, "
        "core.fleet.make_fleet_plan and output.fleet.render_text. Each emulator of this row, "
        "the fleet's and the single-server plan's, runs in a process of its own "
        "(bench/served.py), as real servers run on machines of their own (here they share the "
        "machine's CPUs); requests are counted in each one's own log.",
        "daemon: the daemon's own cycle (reconciler.daemon.cycle.Reconciler.tick, observe mode) "
        "called back to back in one process, every cycle a success with no drift. memory: RSS "
        "after the first cycle, the 10th, half-way and the last; 'grows' is the last minus "
        "half-way.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)

    def progress(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    try:
        rows: list[Row] = all_rows(settings, progress)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    render = render_markdown if args.markdown else render_text
    print(render(rows, title(settings), notes(settings)))
    return 1 if any(row.result == "FAIL" for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
