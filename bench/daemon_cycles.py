"""The daemon's memory over many cycles, driven in-process.

Until ``reconciler.daemon`` exists this drives what a daemon cycle does by hand: re-read the
desired state (it may have changed in git) and ``planning.plan_once`` it against the live
server over one long-lived client. ``driver`` in the answer says which was measured.
RSS is read after the first cycle (start), after the warm-up cycles, and after the last (end).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any

from reconciler import planning

WARM_UP = 10


def run_cycles(desired: str, cycles: int, rss_mb: Callable[[], float]) -> dict[str, Any]:
    loaded = planning.load(desired, os.environ)
    target = planning.target_for(loaded, planning.TargetOptions(), os.environ)
    samples: dict[str, float] = {}
    changes = 0
    start = time.perf_counter()
    with planning.make_client(target) as client:
        for cycle in range(1, cycles + 1):
            loaded = planning.load(desired, os.environ)
            planned = planning.plan_once(loaded, target, client)
            changes += int(planned.plan.has_changes)
            if cycle in (1, min(WARM_UP, cycles), cycles):
                gc.collect()
                samples[str(cycle)] = rss_mb()
    return {
        "driver": "planning.plan_once loop",
        "cycles": cycles,
        "wall": time.perf_counter() - start,
        "start_mb": samples["1"],
        "warm_mb": samples[str(min(WARM_UP, cycles))],
        "end_mb": samples[str(cycles)],
        "cycles_with_changes": changes,
    }
