"""The clocks the benchmark puts around the functions the real plan command calls."""

from __future__ import annotations

import time
import types
from pathlib import Path

import pytest

from bench.fixtures import seeded_emulator, write_desired
from bench.phases import PhaseClock, PhaseError
from bench.runner import run_job


def _module() -> types.ModuleType:
    module = types.ModuleType("fake_pipeline")

    def load(path: str, *, pause: float = 0.0) -> str:
        time.sleep(pause)
        return f"loaded {path}"

    module.load = load  # type: ignore[attr-defined]
    return module


def test_the_wrapped_function_runs_and_its_time_is_counted() -> None:
    module, clock = _module(), PhaseClock()
    original = module.load
    with clock.around(module, "load", "load_wall"):
        assert module.load is not original
        assert module.load("x.yaml", pause=0.02) == "loaded x.yaml"
    assert module.load is original  # put back after the block
    walls = clock.check()
    assert walls["load_wall"] >= 0.02


def test_a_function_the_command_no_longer_calls_is_an_error_not_a_zero() -> None:
    module, clock = _module(), PhaseClock()
    with clock.around(module, "load", "load_wall"):
        pass
    with pytest.raises(PhaseError, match=r"fake_pipeline\.load was called 0 time\(s\)"):
        clock.check()


def test_a_function_called_twice_is_reported() -> None:
    module, clock = _module(), PhaseClock()
    with clock.around(module, "load", "load_wall"):
        module.load("a")
        module.load("b")
    with pytest.raises(PhaseError, match="called 2 time"):
        clock.check()


def test_a_renamed_function_fails_at_once() -> None:
    with pytest.raises(AttributeError), PhaseClock().around(_module(), "read", "load_wall"):
        pass


def test_the_worker_times_the_real_plan_command_by_its_phases(tmp_path: Path) -> None:
    """bench.worker's plan job runs reconciler.cli.main itself: the clocks around
    planning.load and live.fetch_live each ran once inside it, and the plan found nothing to
    change on a server holding exactly the desired state."""
    with seeded_emulator(files=3, keys=5, auth_cost=0.0) as emulator:
        desired = write_desired(tmp_path, files=3, keys=5, url=emulator.url)
        answer = run_job("plan", {"desired": str(desired)}, emulator)
    assert answer["rc"] == 0
    assert answer["requests"] == 2
    assert 0 < answer["load_wall"] < answer["wall"]
    assert 0 < answer["fetch_wall"] < answer["wall"]
    assert answer["load_wall"] + answer["fetch_wall"] <= answer["wall"]


def test_a_function_called_once_per_target_is_timed_over_every_call() -> None:
    module, clock = _module(), PhaseClock()
    with clock.around(module, "load", "load_wall", calls=3):
        for name in ("a", "b", "c"):
            module.load(name, pause=0.01)
    assert clock.check()["load_wall"] >= 0.03
    with clock.around(module, "load", "load_wall", calls=3):
        module.load("d")
    with pytest.raises(PhaseError, match=r"called 4 time.*expected 3"):
        clock.check()
