"""Carry out a plan against CPA, safely, and say exactly what was done.

Order: freshness checks, backups, the config PUT, auth-file creates (batched multipart),
status/fields patches, re-seeds, deletes (one request). Each change that replaces or deletes
something is preceded by its backup. The first failure stops the run: ``ApplyError`` lists the
actions done and not done, and the next apply converges from wherever this one stopped.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler import errors
from reconciler.core import names, secrets
from reconciler.core.auth_diff import SEED_FIELD, seed_of
from reconciler.core.changes import Change
from reconciler.core.model import DesiredAuthFile, DesiredState, LiveState
from reconciler.core.normalize import MISSING
from reconciler.core.plan import Action, Plan
from reconciler.desired import field_rules
from reconciler.pipeline import config_document
from reconciler.statedir.backup import Backup

if TYPE_CHECKING:
    from reconciler.client.management import ManagementClient

# Most files, and bytes, per multipart upload. Each request costs ~60 ms of bcrypt whatever
# it carries, and CPA stored 200 files of one request in 0.12 s: 1,000 typical auth files (under
# 1 MB) go out in one request; a batch is closed early rather than grow past 8 MiB (CPA's
# multipart parser keeps 32 MiB in memory).
UPLOAD_BATCH = 1_000
UPLOAD_BATCH_BYTES = 8 * 1024 * 1024

Progress = Callable[[str], None]


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)
    backup: Backup | None = None
    restart_required: tuple[str, ...] = ()


@dataclass
class _Run:
    plan: Plan
    desired: DesiredState
    live: LiveState
    client: ManagementClient
    backup: Backup
    seed_key: bytes
    progress: Progress
    after_config: Callable[[], None] | None = None
    result: ApplyResult = field(default_factory=ApplyResult)
    pending: list[str] = field(default_factory=list)

    def finish(self, action: Action) -> None:
        self.result.done.append(f"{action.op} {action.address}")
        self.pending.remove(f"{action.op} {action.address}")


def apply_plan(
    plan: Plan,
    desired: DesiredState,
    live: LiveState,
    client: ManagementClient,
    backup: Backup,
    *,
    seed_key: bytes,
    progress: Progress = lambda _msg: None,
    after_config: Callable[[], None] | None = None,
) -> ApplyResult:
    """Apply ``plan`` (made from ``desired`` and ``live``). Raises SafetyError before any
    request when the plan is blocked, StalePlanError when the server changed since the plan
    (nothing written), ApplyError when it stopped part-way. ``after_config`` is called right
    after CPA accepted the config write (a key rotation switches the client's key there)."""
    if plan.blockers:
        raise errors.SafetyError("; ".join(b.message for b in plan.blockers))
    _refuse_unkept_names([a.name for a in plan.actions if _uploads(a)])
    run = _Run(plan, desired, live, client, backup, seed_key, progress, after_config)
    run.pending = [f"{a.op} {a.address}" for a in plan.actions]
    run.result.backup = backup
    _check_auth_files_unchanged(run)
    try:
        _back_up_files(run)
        for step in (_apply_config, _create, _update, _replace, _delete):
            step(run)
    except errors.StalePlanError as exc:
        if run.result.done:
            raise _stopped(run, f"the server changed while applying: {exc}") from None
        raise
    except errors.ReconcilerError as exc:
        raise _stopped(run, str(exc)) from exc
    config = plan.config_action
    run.result.restart_required = config.restart_required if config else ()
    return run.result


def _uploads(action: Action) -> bool:
    return action.kind == "auth-file" and action.op in ("create", "replace")


def _refuse_unkept_names(upload_names: list[str]) -> None:
    """Never upload a name CPA would store as another (``" victim.json"`` lands on
    ``victim.json``, over its live tokens). The loader refuses such names; this is the last
    line before the network, for plans that did not come from it."""
    for name in upload_names:
        problem = names.name_problem(name)
        if problem is not None:
            shown = repr(name).encode("ascii", "backslashreplace").decode("ascii")
            raise errors.SafetyError(
                f"refusing to upload the auth file {shown}: {problem}; nothing was sent"
            )


def _stopped(run: _Run, why: str) -> errors.ApplyError:
    done = run.result.done
    lines = [f"apply stopped: {why}"]
    lines.append("  done: " + (", ".join(done) if done else "nothing"))
    lines.append("  not done: " + (", ".join(run.pending) if run.pending else "nothing"))
    if run.backup.exists:
        lines.append(f"  backup: {run.backup.root}")
    lines.append("Run apply again to converge from here.")
    return errors.ApplyError("\n".join(lines), done=list(done), not_done=list(run.pending))


def _check_auth_files_unchanged(run: _Run, actions: list[Action] | None = None) -> None:
    """Refuse to create over a file that appeared, or touch one that vanished, since the plan."""
    if actions is None:
        actions = [a for a in run.plan.actions if a.kind == "auth-file"]
    if not actions:
        return
    now = {f.name for f in run.client.list_auth_file_summaries()}
    for action in actions:
        exists = action.name in now
        if (action.op == "create") == exists:
            state = "appeared on" if exists else "disappeared from"
            raise errors.StalePlanError(
                f"auth file {action.name} {state} the server since the plan was made; "
                + ("it was left as it is" if run.result.done else "nothing was changed")
                + ". Plan again."
            )


def _back_up_files(run: _Run) -> None:
    """Download and save every file a delete or re-seed replaces, and every file a PATCH
    changes at a secret-bearing path (tokens, headers, keys): the loader refuses token fields,
    this is the second line of defence. Nothing is written to the server before this ends."""
    reasons = {"delete": "deleted", "replace": "replaced", "update": "patched"}
    for action in run.plan.actions:
        if action.kind != "auth-file" or action.op not in reasons:
            continue
        if action.op == "update" and not any(_touches_secret(c) for c in action.changes):
            continue
        run.progress(f"backing up {action.name}")
        content = run.client.download_auth_file(action.name)
        _check_restorable(action.name, content)
        run.backup.save_auth_file(action.name, content, reasons[action.op])


def _touches_secret(change: Change) -> bool:
    """Whether a field change writes at a path that holds (or may hold) a secret."""
    if change.path == ("disabled",):
        return False
    if change.secret or secrets.is_secret_path(change.path):
        return True
    parts = [p.lower() for p in str(change.path[-1]).split(".")]
    return any(
        p in field_rules.TOKEN_FIELDS
        or any(fnmatch.fnmatchcase(p, pattern) for pattern in field_rules.TOKEN_FIELD_PATTERNS)
        for p in parts
    )


def _replaces_config(action: Action) -> bool:
    """Whether a config write replaces or removes a live value (adding keys replaces nothing:
    no backup is made for it)."""
    return any(c.before is not MISSING for c in action.changes)


def _check_restorable(name: str, content: bytes) -> None:
    """A backup that is not an auth file (a proxy's error page answered with 200) would let the
    delete or re-seed it guards destroy the credential: refuse it, before anything is written."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise errors.ApiError(
            f"GET /v0/management/auth-files/download?name={name}: the answer is not a JSON "
            "object, so it cannot serve as the backup of that file"
        )


def _apply_config(run: _Run) -> None:
    action = run.plan.config_action
    if action is None:
        return
    current = run.client.get_config_yaml()
    config_document.parse(current)  # an answer that is no config is an error, not a change
    if current != run.live.config_text:
        raise errors.StalePlanError(
            "config.yaml changed on the server since the plan was made (the web UI or another "
            "tool wrote it); nothing was written to it. Plan again."
        )
    if _replaces_config(action):
        run.backup.save_config(current)
    run.progress("writing config.yaml")
    run.client.put_config_yaml(config_document.rewrite(current, action.writes))
    run.finish(action)
    if run.after_config is not None:
        run.after_config()


def upload_content(entry: DesiredAuthFile, seed_key: bytes) -> bytes:
    """What a create or re-seed uploads: the source, its declared policy, and the seed mark."""
    if entry.content is None:
        raise errors.SourceError(f"auth file {entry.name} has no source to upload")
    data: dict[str, Any] = dict(entry.content)
    for key, value in entry.fields.items():
        _set_field(data, key, value)
    if entry.disabled is not None:
        data["disabled"] = entry.disabled
    data[SEED_FIELD] = seed_of(seed_key, entry.content)
    return json.dumps(data, separators=(",", ":")).encode()


def _set_field(data: dict[str, Any], key: str, value: Any) -> None:
    """Set one policy field as PATCH /auth-files/fields would: a dotted name is a path into
    nested objects, a mapping is merged into the one there, and None removes the field."""
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            if value is None:
                return
            child = {}
        node[part] = child = dict(child)  # a copy: the source's objects are not ours to edit
        node = child
    current = node.get(leaf)
    if value is None:
        node.pop(leaf, None)
    elif isinstance(value, dict) and isinstance(current, dict):
        node[leaf] = {**current, **value}
    else:
        node[leaf] = value


def _entries(run: _Run) -> Mapping[str, DesiredAuthFile]:
    return {e.name: e for e in run.desired.auth_files}


def _batches(actions: list[Action], sizes: Mapping[str, int]) -> list[list[Action]]:
    """``actions`` in order, cut into batches of at most UPLOAD_BATCH files and, unless one
    file alone is larger, UPLOAD_BATCH_BYTES bytes."""
    batches: list[list[Action]] = []
    batch: list[Action] = []
    size = 0
    for action in actions:
        grown = size + sizes[action.name]
        if batch and (len(batch) == UPLOAD_BATCH or grown > UPLOAD_BATCH_BYTES):
            batches.append(batch)
            batch, grown = [], sizes[action.name]
        batch.append(action)
        size = grown
    if batch:
        batches.append(batch)
    return batches


def _upload(run: _Run, op: str) -> None:
    actions = run.plan.auth_actions(op)
    entries = _entries(run)
    contents = {a.name: upload_content(entries[a.name], run.seed_key) for a in actions}
    batches = _batches(actions, {name: len(body) for name, body in contents.items()})
    for n, batch in enumerate(batches, 1):
        verb = "creating" if op == "create" else "re-seeding"
        if op == "create" and run.result.done:
            # An upload replaces a file of the same name: one that appeared since the last
            # look (while the config or an earlier batch was written) must not be overwritten.
            _check_auth_files_unchanged(run, batch)
        run.progress(f"{verb} auth files: batch {n}/{len(batches)} ({len(batch)} files)")
        files = {a.name: contents[a.name] for a in batch}
        _refuse_unkept_names(list(files))
        result = run.client.upload_auth_files(files)
        failed = {f.name: f.error for f in result.failed}
        for action in batch:
            if action.name not in failed:
                run.finish(action)
        if failed:
            detail = "; ".join(f"{name}: {err}" for name, err in sorted(failed.items()))
            raise errors.ApplyError(
                f"the server refused some uploads: {detail}", done=[], not_done=[]
            )


def _create(run: _Run) -> None:
    _upload(run, "create")


def _replace(run: _Run) -> None:
    _upload(run, "replace")


def _update(run: _Run) -> None:
    for action in run.plan.auth_actions("update"):
        run.progress(f"updating {action.name}")
        update_auth_file(run.client, action)
        run.finish(action)


def update_auth_file(client: ManagementClient, action: Action) -> None:
    """The requests of one ``update`` action: ``PATCH /auth-files/status`` for ``disabled``,
    one ``PATCH /auth-files/fields`` for the policy fields (also used by ``reconciler login``)."""
    fields: dict[str, Any] = {}
    for change in action.changes:
        if change.path == ("disabled",):
            client.set_auth_file_disabled(action.name, bool(change.after))
        else:
            fields[str(change.path[1])] = change.after
    if fields:
        client.patch_auth_file_fields(action.name, fields)


def _delete(run: _Run) -> None:
    actions = run.plan.auth_actions("delete")
    if not actions:
        return
    run.progress(f"deleting {len(actions)} auth files (backed up in {run.backup.root})")
    result = run.client.delete_auth_files([a.name for a in actions])
    failed = {f.name: f.error for f in result.failed}
    for action in actions:
        if action.name not in failed:
            run.finish(action)
    if failed:
        detail = "; ".join(f"{name}: {err}" for name, err in sorted(failed.items()))
        raise errors.ApplyError(f"the server refused some deletes: {detail}", done=[], not_done=[])
