"""Where a real command spends its time, without copying it: clocks around the functions it
calls.

``PhaseClock.around(module, "name", phase)`` replaces ``module.name`` for the duration of a
``with`` block by a wrapper that calls the original and adds its wall time to ``phase``. The
command runs unchanged (``reconciler.cli.main``); only the looked-up function is wrapped, so a
change to the real code shows in the figures. When the command no longer calls a wrapped
function exactly once (it was renamed, or is imported by name and so bypasses the module
attribute), ``check`` raises instead of printing a figure that measures nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


class PhaseError(RuntimeError):
    """A wrapped function was not called as the benchmark expects."""


class PhaseClock:
    def __init__(self) -> None:
        self.walls: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._names: dict[str, str] = {}
        self._expected: dict[str, int] = {}

    @contextmanager
    def around(
        self, module: ModuleType | type, name: str, phase: str, *, calls: int | None = None
    ) -> Iterator[None]:
        """Time ``module.name`` as ``phase``; ``calls``: how many times the command must call
        it (default: ``check``'s ``expected_calls``), the phase being their total time."""
        original: Callable[..., Any] = getattr(module, name)  # AttributeError names it
        self.walls.setdefault(phase, 0.0)
        self.calls.setdefault(phase, 0)
        self._names[phase] = f"{module.__name__}.{name}"
        if calls is not None:
            self._expected[phase] = calls

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.walls[phase] += time.perf_counter() - start
                self.calls[phase] += 1

        setattr(module, name, timed)
        try:
            yield
        finally:
            setattr(module, name, original)

    def check(self, expected_calls: int = 1) -> dict[str, float]:
        """The wall time of every phase; raises unless each was called ``expected_calls`` times."""
        for phase, calls in self.calls.items():
            expected = self._expected.get(phase, expected_calls)
            if calls != expected:
                raise PhaseError(
                    f"{self._names[phase]} was called {calls} time(s), expected "
                    f"{expected}: the command changed; update bench/worker.py"
                )
        return dict(self.walls)
