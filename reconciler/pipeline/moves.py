"""Moving credentials between the servers of a fleet without ever losing their tokens.

CPA refreshes a credential's tokens even while it is disabled, so "disable, then copy" is not
safe: the copy's refresh token dies at the next refresh. A move is:

1. download the file from the source (its current tokens), back it up, and write the journal
   entry (0600, fsynced) **before** anything changes;
2. delete it from the source (one request per source): from now on nothing refreshes it;
3. upload it to the destination (one multipart request per destination), with the declared
   ``disabled``/``fields`` policy applied;
4. verify that the destination lists it, then close the journal entry.

A run that dies anywhere leaves the journal entry; ``recover`` (run first by the next apply)
decides from what the servers list: on the destination -> done; still on the source -> the
move never happened (the entry is dropped; the plan moves it again with its current tokens);
on neither -> uploaded from the journal. The credential is never on two servers, and never
lost: at worst it is in the journal and the backup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler import errors
from reconciler.core.fleet import FleetDesired, Move
from reconciler.core.model import DesiredAuthFile
from reconciler.statedir.backup import Backup
from reconciler.statedir.journal import Journal, MoveEntry, new_entry

if TYPE_CHECKING:
    from reconciler.client.management import ManagementClient

Progress = Callable[[str], None]


@dataclass
class MoveResult:
    done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def with_policy(raw: bytes, entry: DesiredAuthFile | None, where: str) -> bytes:
    """The downloaded file with the declared ``disabled`` and ``fields`` set, as a create
    would upload them (a dotted field is a path; None removes the field)."""
    data = _json_object(raw, where)
    if entry is not None:
        for key, value in entry.fields.items():
            _set_field(data, key, value)
        if entry.disabled is not None:
            data["disabled"] = entry.disabled
    return json.dumps(data, separators=(",", ":")).encode()


def _json_object(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise errors.ApiError(f"{where}: the answer is not a JSON object; nothing was moved")
    return data


def _set_field(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            if value is None:
                return
            child = {}
        node[part] = child = dict(child)
        node = child
    if value is None:
        node.pop(leaf, None)
    elif isinstance(value, dict) and isinstance(node.get(leaf), dict):
        node[leaf] = {**node[leaf], **value}
    else:
        node[leaf] = value


def _listed(client: ManagementClient) -> set[str]:
    return {f.name for f in client.list_auth_file_summaries()}


def recover(
    journal: Journal,
    clients: Mapping[str, ManagementClient],
    progress: Progress = lambda _m: None,
) -> MoveResult:
    """Complete or drop every open move of the journal whose two targets are at hand."""
    out = MoveResult()
    for entry in journal.entries():
        dest = clients.get(entry.dest)
        source = clients.get(entry.source)
        if dest is None or source is None:
            missing = entry.dest if dest is None else entry.source
            out.failures.append(
                f"unfinished move of {entry.name} ({entry.source} -> {entry.dest}) left in the "
                f"journal: target {missing} is not available in this run"
            )
            continue
        try:
            _recover_one(entry, source, dest, journal, out, progress)
        except errors.ReconcilerError as exc:
            out.failures.append(
                f"unfinished move of {entry.name} ({entry.source} -> {entry.dest}) left in the "
                f"journal: {exc}"
            )
    return out


def _recover_one(
    entry: MoveEntry,
    source: ManagementClient,
    dest: ManagementClient,
    journal: Journal,
    out: MoveResult,
    progress: Progress,
) -> None:
    if entry.name in _listed(dest):
        journal.close(entry)
        out.notes.append(f"unfinished move of {entry.name}: already on {entry.dest}; closed")
        return
    if entry.source_name in _listed(source):
        journal.close(entry)
        out.notes.append(
            f"unfinished move of {entry.name}: still on {entry.source} (never deleted there); "
            "the journal entry is dropped and the plan moves it with its current tokens"
        )
        return
    progress(f"completing the move of {entry.name} to {entry.dest} from the journal")
    result = dest.upload_auth_files({entry.name: entry.upload})
    if result.failed:
        raise errors.ApiError(f"{entry.dest} refused the upload: {result.failed[0].error}")
    if entry.name not in _listed(dest):
        raise errors.ApiError(f"{entry.dest} does not list {entry.name} after the upload")
    journal.close(entry)
    out.done.append(f"move {entry.name}: {entry.source} -> {entry.dest} (from the journal)")


def execute(
    moves: list[Move],
    desired: FleetDesired,
    clients: Mapping[str, ManagementClient],
    urls: Mapping[str, str],
    journal: Journal,
    backups: Mapping[str, Backup],
    progress: Progress = lambda _m: None,
) -> MoveResult:
    """Carry out ``moves`` (see the module's docstring). Raises ``ApplyError`` when it stops
    part-way: the journal then holds every credential in flight."""
    out = MoveResult()
    entries = {f.name: f for f in desired.files}
    try:
        prepared = _prepare(moves, entries, clients, urls, journal, backups, progress)
        in_flight = _delete(prepared, clients, journal, out, progress)
        _upload(in_flight, clients, journal, out, progress)
    except errors.ReconcilerError as exc:
        raise errors.ApplyError(
            f"moves stopped: {exc}\n  done: {', '.join(out.done) or 'nothing'}\n"
            f"  every credential in flight is in the journal ({journal.root}) and a backup; "
            "run apply again to complete the moves",
            done=list(out.done),
            not_done=[m.name for m in moves if not any(m.name in d for d in out.done)],
        ) from exc
    return out


def _prepare(
    moves: list[Move],
    entries: Mapping[str, DesiredAuthFile],
    clients: Mapping[str, ManagementClient],
    urls: Mapping[str, str],
    journal: Journal,
    backups: Mapping[str, Backup],
    progress: Progress,
) -> list[tuple[Move, MoveEntry | None]]:
    """Step 1 for every move: download, back up, journal. Nothing is changed on any server."""
    prepared: list[tuple[Move, MoveEntry | None]] = []
    for move in moves:
        entry = None
        if move.transfer:
            progress(f"taking {move.source_name} from {move.source}")
            raw = clients[move.source].download_auth_file(move.source_name)
            where = f"{move.source}: GET auth-files/download?name={move.source_name}"
            upload = with_policy(raw, entries.get(move.name), where)
            backups[move.source].save_auth_file(move.source_name, raw, f"moved to {move.dest}")
            entry = new_entry(
                move.name,
                move.source,
                move.source_name,
                move.dest,
                urls[move.source],
                urls[move.dest],
                upload,
            )
        for copy in move.drop:
            raw = clients[copy.target].download_auth_file(copy.name)
            _json_object(raw, f"{copy.target}: GET auth-files/download?name={copy.name}")
            backups[copy.target].save_auth_file(
                copy.name, raw, f"duplicate of {move.name} (kept on {move.dest}); deleted"
            )
        if entry is not None:
            journal.write(entry)
        prepared.append((move, entry))
    return prepared


def _delete(
    prepared: list[tuple[Move, MoveEntry | None]],
    clients: Mapping[str, ManagementClient],
    journal: Journal,
    out: MoveResult,
    progress: Progress,
) -> list[MoveEntry]:
    """Step 2: one DELETE per target. A credential its source refused to delete stays there:
    its journal entry is dropped (nothing moved) and the refusal is a failure."""
    by_target: dict[str, list[str]] = {}
    for move, entry in prepared:
        if entry is not None:
            by_target.setdefault(move.source, []).append(move.source_name)
        for copy in move.drop:
            by_target.setdefault(copy.target, []).append(copy.name)
    refused: set[tuple[str, str]] = set()
    for target, names in by_target.items():
        progress(f"deleting {len(names)} file(s) from {target} (backed up, journaled)")
        result = clients[target].delete_auth_files(names)
        for failure in result.failed:
            refused.add((target, failure.name))
            out.failures.append(f"{target} refused to delete {failure.name}: {failure.error}")
    in_flight: list[MoveEntry] = []
    for move, entry in prepared:
        if entry is not None and (move.source, move.source_name) in refused:
            journal.close(entry)
            continue
        dropped = [c for c in move.drop if (c.target, c.name) not in refused]
        if dropped:
            out.done.append(f"drop duplicate {', '.join(f'{c.target}/{c.name}' for c in dropped)}")
        if entry is not None:
            in_flight.append(entry)
        elif not any((c.target, c.name) in refused for c in move.drop):
            out.done.append(f"move {move.name}: duplicates resolved on {move.dest}")
    return in_flight


def _upload(
    in_flight: list[MoveEntry],
    clients: Mapping[str, ManagementClient],
    journal: Journal,
    out: MoveResult,
    progress: Progress,
) -> None:
    """Steps 3 and 4: one multipart upload per destination, then its listing; an entry is
    closed only once its file is listed there."""
    by_dest: dict[str, list[MoveEntry]] = {}
    for entry in in_flight:
        by_dest.setdefault(entry.dest, []).append(entry)
    for dest, group in by_dest.items():
        progress(f"uploading {len(group)} file(s) to {dest}")
        result = clients[dest].upload_auth_files({e.name: e.upload for e in group})
        failed = {f.name: f.error for f in result.failed}
        listed = _listed(clients[dest])
        for entry in group:
            if entry.name in listed and entry.name not in failed:
                journal.close(entry)
                out.done.append(f"move {entry.name}: {entry.source} -> {dest}")
            else:
                why = failed.get(entry.name, "not listed after the upload")
                out.failures.append(
                    f"move {entry.name} to {dest} not finished ({why}); it is in the journal "
                    "and the backup, and the next apply completes it"
                )
