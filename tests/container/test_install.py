"""The Dockerfile's install steps, replayed outside Docker, and the installed command at work.

The builder stage is replayed from the Dockerfile itself: its COPY lines (filtered by
.dockerignore) lay out a build directory and its RUN line runs there with this interpreter's
pip, so the wheel is built exactly as in the image. The final stage's ``pip install`` of that
wheel goes into a fresh venv, without an index: the dependencies come from this test
environment through a .pth file, and a check in the new venv proves they satisfy the wheel's
requirements. Then the installed ``reconciler`` runs: --version, daemon --help, the demo (its
data files come from the installed package), and the image's default command against the
emulator, probed with the image's own HEALTHCHECK.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from container_helpers import (
    REPO,
    Instruction,
    dockerignore_excludes,
    read_dockerfile,
    read_dockerignore,
    shell_words,
)

import reconciler
from reconciler.emulator import Emulator

KEY = "container-test-mgmt-key-PLANTED"
WAIT = 20.0


@dataclass(frozen=True)
class Image:
    """A stand-in for the final image: a venv holding only the installed wheel."""

    wheel: Path
    venv: Path
    home: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # as the image's ENV
            "PYTHONUNBUFFERED": "1",
        }
        return {**base, **extra}

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / argv[0]), *argv[1:]],
            cwd=self.home,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


# -- the builder stage ------------------------------------------------------------------------


def _copy_into_context(source: Path, target: Path, ignore: list[str]) -> None:
    """COPY of one source, leaving out what .dockerignore keeps from the build context."""

    def ignored(directory: str, names: list[str]) -> list[str]:
        rel = Path(directory).relative_to(REPO)
        return [n for n in names if dockerignore_excludes(ignore, str(rel / n))]

    if source.is_dir():
        shutil.copytree(source, target, ignore=ignored)
    else:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    builder = read_dockerfile().stage("builder")
    root = tmp_path_factory.mktemp("docker-build")
    workdir = root / builder.last("WORKDIR").args.lstrip("/")
    ignore = read_dockerignore()
    for copy in builder.all("COPY"):
        *sources, dest = copy.args.split()
        for source in sources:
            _copy_into_context(REPO / source, workdir / dest, ignore)
    words = shell_words(builder.last("RUN"))
    assert words[:2] == ["pip", "wheel"]
    wheel_dir = words[words.index("--wheel-dir") + 1]
    out = root / wheel_dir.lstrip("/")
    argv = [sys.executable, "-m", "pip", *(str(out) if w == wheel_dir else w for w in words[1:])]
    done = subprocess.run(
        argv,
        cwd=workdir,
        env={**os.environ, "PIP_NO_INPUT": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("*.whl")
    return built


# -- the final stage --------------------------------------------------------------------------


def _dependency_dirs(wheel: Path) -> set[str]:
    """Where this test environment keeps the wheel's direct requirements."""
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(metadata).decode().splitlines()
    dirs = set()
    for line in lines:
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            name = line.split(":", 1)[1].strip().split(";")[0]
            name = name.split("<")[0].split(">")[0].split("=")[0].split("[")[0].strip()
            dist = importlib.metadata.distribution(name)
            dirs.add(str(Path(str(dist.locate_file(""))).resolve()))
    assert dirs
    return dirs


@pytest.fixture(scope="module")
def image(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("image")
    venv = root / "venv"
    home = root / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installs = [
        r for r in read_dockerfile().final.all("RUN") if "pip install" in r.args
    ]  # the final stage's one install
    words = shell_words(installs[0])
    options = [w for w in words[2:] if w.startswith("-")]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         *options, "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "zz-test-dependencies.pth").write_text("\n".join(sorted(_dependency_dirs(wheel))))
    return Image(wheel, venv, home)


# -- the wheel --------------------------------------------------------------------------------


def test_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = zf.read(entry_points).decode()
    ignore = read_dockerignore()
    package = [
        p.relative_to(REPO).as_posix()
        for p in (REPO / "reconciler").rglob("*")
        if p.is_file() and not dockerignore_excludes(ignore, p.relative_to(REPO).as_posix())
    ]
    assert "reconciler/schema/desired-state.schema.json" in package
    missing = sorted(set(package) - names)
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if n.startswith(("tests/", "examples/", "bench/"))]
    assert "reconciler = reconciler.cli:console" in scripts


# -- the installed command ----------------------------------------------------------------------


def test_requirements_are_satisfied_in_the_image_venv(image: Image) -> None:
    script = (
        "import importlib.metadata as md, reconciler\n"
        "from packaging.requirements import Requirement\n"
        "dist = md.distribution('cpa-reconciler')\n"
        "bad = []\n"
        "for line in dist.requires or []:\n"
        "    req = Requirement(line)\n"
        "    if req.marker and not req.marker.evaluate({'extra': ''}):\n"
        "        continue\n"
        "    try:\n"
        "        version = md.version(req.name)\n"
        "    except md.PackageNotFoundError:\n"
        "        bad.append(req.name + ' missing'); continue\n"
        "    if not req.specifier.contains(version, prereleases=True):\n"
        "        bad.append(f'{req.name} {version} is not {req.specifier}')\n"
        "print(reconciler.__file__)\n"
        "print(dist.version)\n"
        "print(';'.join(bad))\n"
    )
    done = image.run("python", "-c", script)
    assert done.returncode == 0, done.stderr
    where, version, problems = done.stdout.splitlines()
    assert Path(where).is_relative_to(image.venv), "the wheel's package, not the source tree"
    assert version == reconciler.__version__
    assert problems == ""


def test_version(image: Image) -> None:
    done = image.run("reconciler", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"reconciler {reconciler.__version__}"


def test_daemon_help_lists_the_flags_the_examples_use(image: Image) -> None:
    done = image.run("reconciler", "daemon", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--listen", "--state-dir", "--mode", "--interval", "--log-format",
                 "--allow-insecure-http"):  # fmt: skip
        assert flag in done.stdout


def test_package_data_is_installed(image: Image) -> None:
    script = (
        "import json\n"
        "from importlib.resources import files\n"
        "pkg = files('reconciler')\n"
        "schema = json.loads((pkg / 'schema' / 'desired-state.schema.json').read_text())\n"
        "demo = pkg / 'demo_data'\n"
        "auth = [p.name for p in (demo / 'auth').iterdir() if p.name.endswith('.json')]\n"
        "print(bool(schema), (demo / 'desired-state.yaml').is_file(), len(auth), "
        "(pkg / 'py.typed').is_file())\n"
    )
    done = image.run("python", "-c", script)
    assert done.returncode == 0, done.stderr
    schema, desired, auth_files, typed = done.stdout.split()
    assert (schema, desired, typed) == ("True", "True", "True")
    assert int(auth_files) == len(list((REPO / "reconciler/demo_data/auth").glob("*.json")))


def test_demo_runs_from_the_installed_package(image: Image) -> None:
    done = image.run("reconciler", "demo", timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Demo finished" in done.stdout


# -- the image's default command, as the container runs it -----------------------------------


def _image_command() -> tuple[list[str], list[str]]:
    final = read_dockerfile().final
    return final.last("ENTRYPOINT").exec_form(), final.last("CMD").exec_form()


def _healthcheck_argv() -> list[str]:
    _flags, rest = read_dockerfile().final.last("HEALTHCHECK").flags_and_rest()
    return Instruction("CMD", rest.removeprefix("CMD "), 0).exec_form()


def _replace_option(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


class _Lines:
    """A subprocess's stdout lines, read on a thread as they arrive."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line)

    def event(self, name: str) -> dict[str, Any]:
        while True:
            line = self.queue.get(timeout=WAIT)
            self.seen.append(line)
            record = json.loads(line)
            if record.get("event") == name:
                return dict(record)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emu:
        yield emu


def test_default_command_serves_health_for_the_healthcheck(
    image: Image, emulator: Emulator, tmp_path: Path
) -> None:
    desired_dir = tmp_path / "desired"  # the read-only /desired mount
    desired_dir.mkdir()
    (desired_dir / "desired-state.yaml").write_text("config:\n  debug: false\n")
    state_dir = tmp_path / "state"  # the /var/lib/reconciler volume
    entrypoint, cmd = _image_command()
    assert cmd[1].startswith("/desired/")
    argv = [*entrypoint, cmd[0], str(desired_dir / Path(cmd[1]).name), *cmd[2:]]
    argv = _replace_option(argv, "--listen", "127.0.0.1:0")
    argv = _replace_option(argv, "--state-dir", str(state_dir))
    env = image.env(CPA_URL=emulator.url, CPA_MANAGEMENT_KEY=KEY)
    stderr = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen(
        [str(image.venv / "bin" / argv[0]), *argv[1:]],
        cwd=image.home, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = _Lines(proc.stdout)
        started = lines.event("daemon.started")
        _host, port = str(started["listen"]).rsplit(":", 1)
        probe = _healthcheck_argv()
        code = probe[2].replace("127.0.0.1:9464", f"127.0.0.1:{port}")
        health = subprocess.run(
            [str(image.python), *probe[1:2], code], env=env, capture_output=True, timeout=30,
            check=False,
        )  # fmt: skip
        assert health.returncode == 0, health.stderr
        ready = _wait_ready(f"http://127.0.0.1:{port}")
        assert ready.status_code == 200, ready.text
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "reconciler_cycles_total" in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
        if proc.stdout is not None:
            proc.stdout.close()
    assert list(desired_dir.iterdir()) == [desired_dir / "desired-state.yaml"], (
        "nothing is written beside the desired state: it is a read-only mount in the image"
    )
    assert KEY not in "".join(lines.seen) + (tmp_path / "stderr").read_text()


def _wait_ready(base: str) -> httpx.Response:
    deadline = time.monotonic() + WAIT
    while True:
        response = httpx.get(f"{base}/readyz", timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)
