"""The layering of reconciler/ (pyproject.toml [tool.importlinter]) holds, and the check can fail.

The contracts say what each package may import: the pure core no adapter, the client nothing of
the reconciler but its errors, only the commands wire everything. ``lint-imports`` checks them;
the second test plants one forbidden import in a copy of the package to prove the check bites.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "client",
    "commands",
    "core",
    "daemon",
    "desired",
    "emulator",
    "output",
    "pipeline",
    "quota",
    "statedir",
)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [exe, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("core/plan.py", "from reconciler.client.management import ManagementClient"),
        ("client/models.py", "from reconciler.core import model"),
        ("pipeline/live.py", "from reconciler.daemon import events"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str) -> None:
    shutil.copytree(
        ROOT / "reconciler", tmp_path / "reconciler", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "reconciler" / module
    target.write_text(target.read_text() + f"\n{line}  # planted\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_it_owns(package: str) -> None:
    init = ROOT / "reconciler" / package / "__init__.py"
    text = init.read_text()
    assert text.startswith('"""'), f"{init} has no docstring saying what the package owns"
