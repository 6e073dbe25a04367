"""Every step of an apply meets a 500, a timeout and a dropped connection.

For each (step x fault) the run must stop with exit 1 and say which actions were done and which
were not, lose no credential and no config (every file that existed is on the server or in a
backup, config.yaml is the old or the new one), and the next apply must converge. A timed-out
write may still be carried out by the server after the client gave up: the test waits for the
server to finish it, then the next apply re-plans from whatever is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fault_world import ORDER, PREFIX, TIMEOUT, World, wait_for


@dataclass(frozen=True)
class Step:
    id: str
    method: str
    path: str
    nth: int  # which request to this endpoint the step is, not counting the plan's downloads
    done: int  # how many actions of ORDER are done when this step fails

    @property
    def endpoint(self) -> str:
        return f"{self.method} {PREFIX}{self.path}"

    def nth_in(self, world: World) -> int:
        """Counted from the start of the apply, whose plan may download files first."""
        if self.path == "/auth-files/download":
            return world.plan_downloads + self.nth
        return self.nth


STEPS = (
    Step("backup-download-1", "GET", "/auth-files/download", 1, 0),
    Step("backup-download-2", "GET", "/auth-files/download", 2, 0),
    Step("config-put", "PUT", "/config.yaml", 1, 0),
    Step("recheck-before-batch-1", "GET", "/auth-files", 3, 1),
    Step("create-batch-1", "POST", "/auth-files", 1, 1),
    Step("recheck-before-batch-2", "GET", "/auth-files", 4, 3),
    Step("create-batch-2", "POST", "/auth-files", 2, 3),
    Step("status-patch", "PATCH", "/auth-files/status", 1, 4),
    Step("fields-patch-1", "PATCH", "/auth-files/fields", 1, 4),
    Step("fields-patch-2", "PATCH", "/auth-files/fields", 2, 5),
    Step("delete", "DELETE", "/auth-files", 1, 6),
)

# times=3: a GET is retried twice on a 500 or a broken connection; writes are never retried.
FAULTS: dict[str, dict[str, Any]] = {
    "500": {"status": 500, "times": 3},
    "timeout": {"delay": TIMEOUT * 1.6, "times": 3},
    "drop": {"drop": True, "times": 3},
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
def test_a_failed_step_loses_nothing_and_the_next_apply_converges(
    world: World, step: Step, fault: str
) -> None:
    nth = step.nth_in(world)
    world.emu.inject_fault(step.method, step.path, nth=nth, **FAULTS[fault])

    result = world.apply()

    assert result.code == 1, result.out + result.err
    # It names the request, or (a one-file batch answered like CPA's single-file upload) the file.
    assert f"apply stopped: {step.endpoint}" in result.err or (
        "apply stopped: the server refused some uploads: new-3.json" in result.err
    )
    assert result.listed("done") == list(ORDER[: step.done])
    assert sorted(result.listed("not done")) == sorted(ORDER[step.done :])
    # The faulted request reached the server (a delayed one is carried out late).
    wait_for(world.emu, step.method, step.path, nth)
    world.assert_nothing_lost()
    world.converges()


def test_without_faults_the_world_takes_every_step_once(world: World) -> None:
    """The matrix above hits real steps: a clean apply sends each of them, in this order."""
    downloads = world.plan_downloads
    assert downloads >= 1  # keep-b declares a field the listing does not show

    result = world.apply()

    assert result.code == 0, result.err
    sent = [(r.method, r.path.removeprefix(PREFIX)) for r in world.emu.requests()]
    assert sent == [
        ("GET", "/config.yaml"),
        ("GET", "/auth-files"),
        *[("GET", "/auth-files/download")] * downloads,
        ("GET", "/auth-files"),
        ("GET", "/auth-files/download"),
        ("GET", "/auth-files/download"),
        ("GET", "/config.yaml"),
        ("PUT", "/config.yaml"),
        ("GET", "/auth-files"),  # files that appeared meanwhile are not created over
        ("POST", "/auth-files"),
        ("GET", "/auth-files"),
        ("POST", "/auth-files"),
        ("PATCH", "/auth-files/status"),
        ("PATCH", "/auth-files/fields"),
        ("PATCH", "/auth-files/fields"),
        ("DELETE", "/auth-files"),
    ]
    assert world.emu.config_yaml() == world.config_after
    world.assert_nothing_lost()
    assert set(world.backed_up()) == {"old-x.json", "old-y.json"}
