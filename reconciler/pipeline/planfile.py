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
    target = Path(path)
    validate(doc, target)
    try:
        data = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"plan file {target} cannot be written: {exc}") from exc
    _atomic_write(target, data.encode())


def read_plan_file(path: StrPath) -> dict[str, Any]:
    """The plan document in ``path``, checked to be a plan of a format this version reads."""
    target = Path(path)
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
    return validate(doc, target)


def validate(doc: Any, path: Path) -> dict[str, Any]:
    """``doc`` if it is a plan document this version reads; else a ``PlanFileError``."""
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
    for key, types in REQUIRED_KEYS.items():
        if key not in doc:
            raise _not_a_plan(path, f'the key "{key}" is missing')
        if not isinstance(doc[key], types):
            raise _not_a_plan(path, f'the key "{key}" has the wrong type')
    return doc


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
