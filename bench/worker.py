"""The measured jobs, each run alone in a fresh process: ``python -m bench.worker JOB SPEC``.

``SPEC`` is a JSON object; the answer is one JSON line on stdout. Imports happen before the
clock starts, for every job alike, so wall time is the operation's own. Peak memory is the
growth of the resident set across the operation: the high-water mark (``VmHWM``, reset just
before the operation) minus the RSS before it, so it counts every allocation, including those
made by C extensions, and not the imports. The commands are the real ones
(``reconciler.cli.main``), never a copy of their steps; the whole command as a user runs it,
start-up included, is timed by ``bench.launch``.
The management key comes from ``CPA_MANAGEMENT_KEY``, never from argv.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.phases import PhaseClock
from reconciler import cli
from reconciler.core.config_diff import diff_config
from reconciler.pipeline import config_document, live, planning, prefetch

MANAGEMENT = "/v0/management"
Spec = dict[str, Any]


def _status_mb(field: str) -> float:
    """A ``kB`` line of /proc/self/status (VmRSS: now, VmHWM: the high-water mark), in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}")


def current_rss_mb() -> float:
    return _status_mb("VmRSS")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0); without it the peak includes imports."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def measured(operation: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``operation`` once; its answer plus ``wall`` (s) and ``peak_mb`` (peak RSS growth).

    Not ``ru_maxrss``: Linux carries the parent's high-water mark across fork and exec, so a
    child of the (large) benchmark process would report the parent's size.
    """
    gc.collect()
    before = current_rss_mb()
    _reset_peak()
    start = time.perf_counter()
    answer = operation()
    wall = time.perf_counter() - start
    return {**answer, "wall": wall, "peak_mb": max(0.0, _status_mb("VmHWM") - before)}


def _client(url: str) -> httpx.Client:
    key = os.environ["CPA_MANAGEMENT_KEY"]
    return httpx.Client(
        base_url=url + MANAGEMENT, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )


def _cli(argv: list[str]) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    return {"rc": code}


# -- jobs --------------------------------------------------------------------------------------


def job_plan(spec: Spec) -> dict[str, Any]:
    """``reconciler plan DESIRED --detailed-exitcode`` in-process (``reconciler.cli.main``, the
    real command), imports excluded: rc 0 means no changes. Clocks around the functions it calls
    split its time: ``load_wall`` (``planning.load``: the desired file read, checked, its
    references resolved, the two reads in flight meanwhile when the key is known to work) and
    the reads' time past it: ``take_wall`` (``prefetch.Prefetch.take``: waiting for the early
    reads) and ``fetch_wall`` (``live.fetch_live``: the reads when they were not made early,
    and any download); the rest is the target, the plan itself and its rendering."""
    cli.build_parser(only="plan")  # imports what the command imports, before the clock starts
    phases = PhaseClock()
    with (
        phases.around(planning, "load", "load_wall"),
        phases.around(prefetch.Prefetch, "take", "take_wall"),
        phases.around(live, "fetch_live", "fetch_wall"),
    ):
        answer = measured(lambda: _cli(["plan", spec["desired"], "--detailed-exitcode"]))
    return {**answer, **phases.check()}


def job_fleet_plan(spec: Spec) -> dict[str, Any]:
    """``reconciler plan FLEET --detailed-exitcode`` in-process (``reconciler.cli.main``) on a
    fleet file, imports excluded, split by clocks around the functions it calls: ``load_wall``
    (``desired.fleet.load_fleet``: the fleet file read, checked, its references and sources
    resolved), ``read_wall`` (``pipeline.fleet.read_fleet``: every target's GETs and parsing,
    in parallel), ``plan_wall`` (``core.fleet.make_fleet_plan``: placement, identity, moves,
    duplicates and each target's own plan), ``render_wall`` (``output.fleet.render_text``) and
    ``clients_wall`` (``planning.make_client``, once per target)."""
    from reconciler.core import fleet as core_fleet
    from reconciler.desired import fleet as desired_fleet
    from reconciler.output import fleet as output_fleet
    from reconciler.pipeline import fleet as pipeline_fleet

    cli.build_parser(only="plan")
    phases = PhaseClock()
    with (
        phases.around(desired_fleet, "load_fleet", "load_wall"),
        phases.around(planning, "make_client", "clients_wall", calls=int(spec["targets"])),
        phases.around(pipeline_fleet, "read_fleet", "read_wall"),
        phases.around(core_fleet, "make_fleet_plan", "plan_wall"),
        phases.around(output_fleet, "render_text", "render_wall"),
    ):
        answer = measured(lambda: _cli(["plan", spec["desired"], "--detailed-exitcode"]))
    return {**answer, **phases.check()}


def job_apply(spec: Spec) -> dict[str, Any]:
    """``reconciler apply DESIRED --auto-approve`` in-process (``reconciler.cli.main``)."""
    cli.build_parser(only="apply")
    with tempfile.TemporaryDirectory(prefix="bench-state-") as state:
        argv = ["apply", spec["desired"], "--auto-approve", "--state-dir", state]
        return measured(lambda: _cli(argv))


def _floor(client: httpx.Client) -> list[dict[str, Any]]:
    config = client.get("/config.yaml")
    config.raise_for_status()
    listing = client.get("/auth-files")
    listing.raise_for_status()
    files: list[dict[str, Any]] = json.loads(listing.content)["files"]
    return files


def job_floor(spec: Spec) -> dict[str, Any]:
    """Only the unavoidable GETs (config.yaml, auth-files), bare httpx, the listing parsed."""

    def floor() -> dict[str, Any]:
        with _client(spec["url"]) as client:
            return {"files": len(_floor(client))}

    return measured(floor)


def job_fleet_floor(spec: Spec) -> dict[str, Any]:
    """The floor of every server of a fleet at once: each one's two GETs on its own thread
    (bare httpx, the listing parsed with json), imports excluded."""
    from concurrent.futures import ThreadPoolExecutor

    def one(url: str) -> int:
        with _client(url) as client:
            return len(_floor(client))

    def floor() -> dict[str, Any]:
        with ThreadPoolExecutor(max_workers=len(spec["urls"])) as pool:
            return {"files": sum(pool.map(one, spec["urls"]))}

    return measured(floor)


def job_naive(spec: Spec) -> dict[str, Any]:
    """The floor, then every auth file downloaded and parsed, one request each."""

    def naive() -> dict[str, Any]:
        with _client(spec["url"]) as client:
            files = _floor(client)
            for entry in files:
                answer = client.get("/auth-files/download", params={"name": entry["name"]})
                answer.raise_for_status()
                json.loads(answer.content)
        return {"files": len(files)}

    return measured(naive)


def job_per_file(spec: Spec) -> dict[str, Any]:
    """Upload every file of a directory with its own request (the one-request-per-file line)."""
    paths = sorted(Path(spec["dir"]).glob("*.json"))

    def upload() -> dict[str, Any]:
        with _client(spec["url"]) as client:
            for path in paths:
                answer = client.post(
                    "/auth-files", params={"name": path.name}, content=path.read_bytes()
                )
                answer.raise_for_status()
        return {"files": len(paths)}

    return measured(upload)


def job_config_diff(spec: Spec) -> dict[str, Any]:
    """The semantic config diff alone (desired vs the live config.yaml), median of ``runs``."""
    loaded = planning.load(spec["desired"], os.environ)
    with _client(spec["url"]) as client:
        answer = client.get("/config.yaml")
        answer.raise_for_status()
    live = config_document.parse(answer.text)
    desired = loaded.state.config or {}
    times, changes = [], 0
    for _ in range(int(spec.get("runs", 5))):
        start = time.perf_counter()
        diff = diff_config(desired, live, prune=False, ignore=())
        times.append(time.perf_counter() - start)
        changes = len(diff.changes)
    return {"wall": statistics.median(times), "changes": changes}


def job_daemon(spec: Spec) -> dict[str, Any]:
    """Memory over many daemon cycles, driven in-process (see ``bench.daemon_cycles``)."""
    from bench.daemon_cycles import run_cycles

    return run_cycles(spec["desired"], int(spec["cycles"]), current_rss_mb)


JOBS: dict[str, Callable[[Spec], dict[str, Any]]] = {
    "plan": job_plan,
    "fleet-plan": job_fleet_plan,
    "apply": job_apply,
    "floor": job_floor,
    "fleet-floor": job_fleet_floor,
    "naive": job_naive,
    "per-file": job_per_file,
    "config-diff": job_config_diff,
    "daemon": job_daemon,
}


def main(argv: list[str]) -> int:
    job, spec = argv[0], json.loads(argv[1])
    answer = JOBS[job](spec)
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
