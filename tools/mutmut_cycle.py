"""Mutation testing of the daemon's cycle (README "Development"), by hand, not in CI.

mutmut reads one configuration, ``[tool.mutmut]`` in pyproject.toml, which is set for the pure
core and its fast tests. This runs mutmut on ``reconciler/daemon/cycle.py`` instead, with the
daemon tests that drive a cycle in-process, in a copy of the tree (``.mutmut-cycle/``,
gitignored) whose pyproject.toml says so; the results stay there between runs.

    .venv/bin/python tools/mutmut_cycle.py run --max-children 2
    .venv/bin/python tools/mutmut_cycle.py results        # survivors and untested mutants
    .venv/bin/python tools/mutmut_cycle.py show NAME      # the diff of one mutant

Any arguments are mutmut's own, run in the copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutmut-cycle"
COPIED = ("reconciler", "tests", "docs", "examples")
CONFIG = """[tool.mutmut]
source_paths = ["reconciler"]
only_mutate = ["reconciler/daemon/cycle.py"]
pytest_add_cli_args_test_selection = [
    "tests/daemon/test_cycle_rules.py",
    "tests/daemon/test_drift_tracking.py",
    "tests/daemon/test_daemon_backoff.py",
    "tests/daemon/test_daemon_inprocess.py",
    "tests/daemon/test_cycle_mutants.py",
]
# bad flags exit before any cycle starts
pytest_add_cli_args = ["-k", "not test_bad_flags_exit_1_before_starting"]
"""


def main(argv: list[str]) -> int:
    WORK.mkdir(exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:  # copy2 keeps mtimes: mutmut re-mutates only what changed
        shutil.copytree(ROOT / name, WORK / name, dirs_exist_ok=True, ignore=ignore)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.compile(r"^\[tool\.mutmut\]\n(?:(?!^\[).*\n)*", re.MULTILINE)
    if not block.search(pyproject):
        print("pyproject.toml has no [tool.mutmut] section", file=sys.stderr)
        return 1
    (WORK / "pyproject.toml").write_text(block.sub(CONFIG + "\n", pyproject), encoding="utf-8")
    mutmut = Path(sys.executable).with_name("mutmut")
    return subprocess.call([str(mutmut), *(argv or ["run"])], cwd=WORK)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
