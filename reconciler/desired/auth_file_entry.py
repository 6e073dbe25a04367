"""Add or update one ``auth-files.files`` entry in a desired-state file, keeping the rest.

Owns the one place the tool writes the operator's desired-state file (``reconciler login
--desired``). The document is round-tripped with ruamel.yaml, its indentation guessed from the
file, so every comment, the key order, quoting and formatting stay as written; the entry gets
``name`` and only the policy asked for (``disabled``, ``fields.note``, ``fields.priority``):
never a ``source`` or a token. The file is replaced atomically (same directory, same mode).
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from reconciler.errors import DesiredStateError
from reconciler.local_files import DOCUMENT_LIMIT, read_bounded


@dataclass(frozen=True)
class EntryPolicy:
    """What the flags asked for; None leaves a value as the entry has it."""

    disabled: bool | None = None
    note: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class EntryEdit:
    """What happened: ``added``, ``updated`` or ``unchanged``."""

    outcome: str
    path: Path


def record_entry(path: str | os.PathLike[str], name: str, policy: EntryPolicy) -> EntryEdit:
    """Add an entry ``name`` under ``auth-files.files`` of the file at ``path``, or update the
    entry of that name, with ``policy``; everything else in the file is kept."""
    where = Path(path)
    try:
        text = read_bounded(where, DOCUMENT_LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DesiredStateError(f"{where}: cannot read it: {exc}", path=str(where)) from None
    new_text, outcome = edit_text(text, name, policy, where=str(where))
    if new_text != text:
        _replace_file(where, new_text)
    return EntryEdit(outcome, where)


def edit_text(text: str, name: str, policy: EntryPolicy, *, where: str) -> tuple[str, str]:
    """``text`` with the entry added or updated, and ``added``/``updated``/``unchanged``."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        if text.strip():
            _, sequence, offset = load_yaml_guess_indent(text)
            doc = yaml.load(text)
        else:
            sequence, offset, doc = 2, 0, None
    except YAMLError as exc:
        raise DesiredStateError(f"{where}: not valid YAML ({exc})", path=where) from None
    mapping = _mapping_indent(text)
    offset = offset or 0
    yaml.indent(mapping=mapping, sequence=max(sequence or mapping, offset + 2), offset=offset)
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise DesiredStateError(f"{where}: the document is not a mapping", path=where)
    files = _files_list(doc, where)
    entry = next((e for e in files if isinstance(e, CommentedMap) and e.get("name") == name), None)
    outcome = "updated"
    if entry is None:
        entry = CommentedMap()
        entry["name"] = name
        files.append(entry)
        outcome = "added"
    before = _plain(entry)
    if policy.disabled is not None:
        entry["disabled"] = policy.disabled
    if policy.note is not None or policy.priority is not None:
        fields = entry.get("fields")
        if fields is None:
            fields = entry["fields"] = CommentedMap()
        if not isinstance(fields, CommentedMap):
            raise DesiredStateError(
                f"{where}: the fields of auth file {name!r} are not a mapping", path=where
            )
        if policy.note is not None:
            fields["note"] = policy.note
        if policy.priority is not None:
            fields["priority"] = policy.priority
    if outcome == "updated" and _plain(entry) == before:
        return text, "unchanged"
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue(), outcome


def _mapping_indent(text: str) -> int:
    """The indentation of nested mapping keys: the smallest one a ``key:`` line has (ruamel
    guesses only the sequence indentation)."""
    found = [
        len(line) - len(line.lstrip(" "))
        for line in text.splitlines()
        if line.startswith(" ") and not line.lstrip().startswith(("#", "-")) and ":" in line
    ]
    positive = [n for n in found if n > 0]
    return min(positive) if positive else 2


def _files_list(doc: CommentedMap, where: str) -> CommentedSeq:
    section = doc.get("auth-files")
    if section is None:
        section = doc["auth-files"] = CommentedMap()
    if not isinstance(section, CommentedMap):
        raise DesiredStateError(f"{where}: auth-files is not a mapping", path=where)
    files = section.get("files")
    if files is None:
        files = section["files"] = CommentedSeq()
    if not isinstance(files, CommentedSeq):
        raise DesiredStateError(f"{where}: auth-files.files is not a list", path=where)
    if files.fa.flow_style():
        files.fa.set_block_style()  # a "files: []" grows as a block list
    return files


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, keeping its permission bits."""
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
