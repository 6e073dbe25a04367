"""A bare clone passes its tests: nothing outside the repository is needed.

The maintainers' machines and CI have a ``shared/`` folder beside the repository with CPA's own
upstream files; a user who clones the repository does not. Here the repository is copied into
an empty folder (so ``../shared`` does not exist) and pytest runs there in a subprocess: the
whole suite collects without an error, and the tests that compare against CPA's upstream files
are SKIPPED with a reason naming the missing file, never failed and never passed silently.
In CI, which has ``../shared``, this test is the only one that walks the skip path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Not part of a clone (or made by running things in one).
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    "*.egg-info",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".import_linter_cache",
    ".pytest_cache",
    ".reconciler",
)
UPSTREAM_FILES = ("config.example.yaml", "docker-compose.yml")
# A path into the shared folder: "shared" as a quoted path part or followed by a slash.
SHARED_PATH = re.compile(r"""["'/]shared(?:["']|/)""")


def _bare_clone(tmp_path: Path) -> Path:
    """The repository copied into an empty folder: nothing beside it, no ``../shared``."""
    clone = tmp_path / "cpa-reconciler"
    shutil.copytree(REPO, clone, ignore=NOT_IN_A_CLONE, symlinks=True)
    assert not (clone.parent / "shared").exists()
    return clone


def _pytest(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CPA_"))}
    env["PYTHONPATH"] = str(clone)  # the clone's own package, as an editable install would be
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _upstream_test_files() -> list[str]:
    """Every test file that asks for one of CPA's upstream files."""
    return sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "tests").rglob("test_*.py")
        if p != Path(__file__).resolve() and "upstream_file(" in p.read_text(encoding="utf-8")
    )


def test_only_the_upstream_fixture_reads_the_shared_folder() -> None:
    """Tests and benchmarks reach ../shared only through ``upstream_file`` (tests/conftest.py)."""
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for root in (REPO / "tests", REPO / "bench")
        for path in sorted(root.rglob("*.py"))
        if path != REPO / "tests" / "conftest.py" and path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SHARED_PATH.search(line)
    ]
    assert offenders == [], "read it with the upstream_file fixture instead"


def test_a_bare_clone_collects_everything_and_skips_only_the_upstream_checks(
    tmp_path: Path,
) -> None:
    clone = _bare_clone(tmp_path)

    collected = _pytest(clone, "--collect-only", "-q")
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    last = collected.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ tests collected in [\d.]+s", last), collected.stdout[-3000:]

    files = _upstream_test_files()
    assert files == ["tests/container/test_examples.py", "tests/desired/test_desired_load.py"]
    # ... and the recorded answers of the real server, which live in the repository.
    ran = _pytest(clone, "-q", "-rs", *files, "tests/core/test_config_diff.py")
    out = ran.stdout + ran.stderr
    assert ran.returncode == 0, out[-4000:]
    assert " failed" not in out and " error" not in out, out[-4000:]
    skips = [line for line in ran.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) == len(UPSTREAM_FILES), out[-4000:]
    for name in UPSTREAM_FILES:
        [line] = [s for s in skips if f"upstream file {name} is not here" in s]
        assert str(clone.parent / "shared") in line and "is missing" in line, line
    summary = ran.stdout.strip().splitlines()[-1]
    assert re.search(rf"\d+ passed, {len(UPSTREAM_FILES)} skipped", summary), summary
