"""The daemon's memory over many cycles, driven in-process.

Builds the daemon's own ``reconciler.daemon.cycle.Reconciler`` (observe mode, events to /dev/null,
metrics in a private registry, no health server, no scheduler) and calls ``tick`` — the job
``reconciler daemon``'s scheduler runs — once per cycle, back to back. RSS is read after the
first cycle (start), after the warm-up cycles, half-way and after the last (end): the process
settles in over the first cycles (allocator arenas, TLS contexts), so "does not grow" is judged
on the second half, where a leak of even 1 kB per cycle would show. Every cycle must be a
success that found no drift, or the figures would be of something else.
"""

from __future__ import annotations

import gc
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from reconciler.daemon.cycle import DaemonConfig, Reconciler
from reconciler.daemon.events import EventSink
from reconciler.daemon.metrics import Metrics

WARM_UP = 10
DRIVER = "reconciler.daemon.cycle.Reconciler.tick"


def run_cycles(desired: str, cycles: int, rss_mb: Callable[[], float]) -> dict[str, Any]:
    registry = CollectorRegistry()
    samples: dict[int, float] = {}
    checkpoints = {1, min(WARM_UP, cycles), max(1, cycles // 2), cycles}
    with (
        tempfile.TemporaryDirectory(prefix="bench-daemon-state-") as state,
        open(os.devnull, "w", encoding="utf-8") as sink,
    ):
        config = DaemonConfig(desired=desired, state_dir=Path(state), mode="observe", listen=None)
        events = EventSink(sink, log_format="json")
        reconciler = Reconciler(config, events, Metrics(registry), threading.Event(), os.environ)
        start = time.perf_counter()
        for cycle in range(1, cycles + 1):
            reconciler.tick()
            if cycle in checkpoints:
                gc.collect()
                samples[cycle] = rss_mb()
        wall = time.perf_counter() - start
    return {
        "driver": DRIVER,
        "cycles": cycles,
        "successes": int(_sample(registry, "reconciler_cycles_total", result="success")),
        "drift_items": int(_sample(registry, "reconciler_drift_items", kind=None)),
        "wall": wall,
        "start_mb": samples[1],
        "warm_mb": samples[min(WARM_UP, cycles)],
        "half_mb": samples[max(1, cycles // 2)],
        "end_mb": samples[cycles],
    }


def _sample(registry: CollectorRegistry, name: str, **labels: str | None) -> float:
    """A sample's value; a label given as None is summed over."""
    wanted = {k: v for k, v in labels.items() if v is not None}
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted.items()):
                total += sample.value
    return total
