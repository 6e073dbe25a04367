"""The plan file: ``plan -out FILE`` writes it, ``apply FILE`` and ``show FILE`` read it.

A plan file is the JSON document of ``plan_json.plan_to_json`` (no secret values). It is
written atomically (a temporary file in the same directory, fsync, rename) with mode 0600, so a
reader never sees half a plan. Reading checks that the file is ours and of a format this version
understands: the same major ``format_version`` is accepted and unknown keys are ignored (a minor
bump only adds keys); another major version is refused. Every failure is a ``PlanFileError``
that names the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from reconciler.errors import PlanFileError
from reconciler.local_files import PLAN_FILE_LIMIT, read_bounded
from reconciler.output.plan_json import FORMAT_VERSION, TOOL_NAME

StrPath = str | os.PathLike[str]

FILE_MODE = 0o600
_VERSION = re.compile(r"^(\d+)\.(\d+)$")
_MAJOR = FORMAT_VERSION.split(".")[0]
# Keys every plan of format 1.x has, with the JSON types they may hold.
REQUIRED_KEYS: dict[str, tuple[type, ...]] = {
    "tool": (dict,),
    "target": (dict,),
    "created_at": (str,),
    "desired_fingerprint": (str, type(None)),
    "live_fingerprint": (str, type(None)),
    "summary": (dict,),
    "resource_changes": (list,),
    "blockers": (list,),
    "unresolved": (list,),
}


def write_plan_file(path: StrPath, doc: dict[str, Any]) -> None:
    """Write the plan document ``doc`` to ``path``: JSON, mode 0600, atomically."""
    validate(doc, Path(path))
    _write_json(Path(path), doc)


def write_fleet_plan_file(path: StrPath, doc: dict[str, Any]) -> None:
    """Write the fleet plan document ``doc`` (``kind: fleet``) to ``path``, as a plan file."""
    validate_fleet(doc, Path(path))
    _write_json(Path(path), doc)


def _write_json(target: Path, doc: dict[str, Any]) -> None:
    try:
        data = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"plan file {target} cannot be written: {exc}") from exc
    _atomic_write(target, data.encode())


def read_plan_file(path: StrPath) -> dict[str, Any]:
    """The plan document in ``path``, checked to be a plan of a format this version reads."""
    return validate(_read_json(Path(path)), Path(path))


def read_fleet_plan_file(path: StrPath) -> dict[str, Any]:
    """The fleet plan document in ``path`` (``plan FLEET --out``), checked."""
    return validate_fleet(_read_json(Path(path)), Path(path))


def _read_json(target: Path) -> Any:
    try:
        raw = read_bounded(target, PLAN_FILE_LIMIT)
    except FileNotFoundError as exc:
        raise PlanFileError(f"plan file {target} does not exist") from exc
    except OSError as exc:
        raise PlanFileError(f"plan file {target} cannot be read: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"plan file {target} is not JSON: it is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"plan file {target} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return doc


# Keys every fleet plan has (``kind: fleet``), with their JSON types.
FLEET_REQUIRED_KEYS: dict[str, tuple[type, ...]] = {
    "tool": (dict,),
    "created_at": (str,),
    "targets": (dict,),
    "moves": (list,),
    "duplicates": (list,),
    "summary": (dict,),
}


def validate_fleet(doc: Any, path: Path) -> dict[str, Any]:
    """``doc`` if it is a fleet plan this version reads (each target's ``plan`` a plan
    document); else a ``PlanFileError``."""
    checked = _check_tool_and_version(doc, path)
    if checked.get("kind") != "fleet":
        raise PlanFileError(
            f"plan file {path} is the plan of a single target, and the desired state is a fleet "
            "file (targets:); make the plan from the fleet file"
        )
    _check_keys(checked, path, FLEET_REQUIRED_KEYS)
    for name, section in checked["targets"].items():
        if not isinstance(section, dict) or not isinstance(section.get("url"), str):
            raise _not_a_plan(path, f'its target "{name}" has no url')
        if section.get("plan") is not None:
            validate(section["plan"], path)
    return checked


def validate(doc: Any, path: Path) -> dict[str, Any]:
    """``doc`` if it is a plan document this version reads; else a ``PlanFileError``."""
    checked = _check_tool_and_version(doc, path)
    if checked.get("kind") == "fleet":
        raise PlanFileError(
            f"plan file {path} is the plan of a fleet (made from a file with targets:); apply "
            "it with that fleet file"
        )
    _check_keys(checked, path, REQUIRED_KEYS)
    return checked


def _check_tool_and_version(doc: Any, path: Path) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise _not_a_plan(path, "it is not a JSON object")
    tool = doc.get("tool")
    if not isinstance(tool, dict) or tool.get("name") != TOOL_NAME:
        raise _not_a_plan(path, f'its "tool.name" is not "{TOOL_NAME}"')
    version = doc.get("format_version")
    match = _VERSION.match(version) if isinstance(version, str) else None
    if match is None:
        raise _not_a_plan(path, 'it has no valid "format_version"')
    if match.group(1) != _MAJOR:
        raise PlanFileError(
            f"plan file {path} has format version {version}; this version of {TOOL_NAME} reads "
            f"format {_MAJOR}.x only. Make the plan again with this version"
        )
    return doc


def _check_keys(doc: dict[str, Any], path: Path, keys: dict[str, tuple[type, ...]]) -> None:
    for key, types in keys.items():
        if key not in doc:
            raise _not_a_plan(path, f'the key "{key}" is missing')
        if not isinstance(doc[key], types):
            raise _not_a_plan(path, f'the key "{key}" has the wrong type')


def _not_a_plan(path: Path, why: str) -> PlanFileError:
    return PlanFileError(f"plan file {path} is not a {TOOL_NAME} plan: {why}")


def _atomic_write(target: Path, data: bytes) -> None:
    directory = target.parent
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise PlanFileError(f"plan file {target} cannot be written: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; best effort (some file systems refuse to open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
