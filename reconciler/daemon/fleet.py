"""The drift daemon on a fleet file (``targets:``): every target each cycle, each on its own.

``FleetReconciler.tick`` is the scheduled job when the desired state names several servers.
One fleet cycle:

1. Re-reads the fleet file and its references (a broken file: one ``reconcile.error`` naming
   file:line, the last good one is kept for observing, **nothing is applied**: as for one
   target).
2. Per target (``cycle.TargetState``, one each): its URL and key (a bad one is that target's
   ``reconcile.error``, stage ``target``), its own auth hold and failure backoff. A target held
   after a 401/403 or backing off after a failure is not read this cycle (``skipped``); the
   others are, at their normal interval.
3. Reads every target it may, in parallel (at most ``pipeline.fleet.MAX_WORKERS`` at once), and
   makes the fleet plan exactly as ``plan`` does. A target that is not read is *unread* for the
   plan: nothing it may hold is created elsewhere meanwhile, and no move touches it.
4. Announces each read target's drift with its ``target`` (its name) and ``url``, and, for the
   fleet, each move the placement requires (``move.pending``, with why it waits) and each
   credential live on two or more servers (``duplicate.detected``), once each, in either mode;
   their end is ``move.resolved`` / ``duplicate.resolved``.
5. ``heal``: under the state-directory lock, completes the journal's unfinished moves (as every
   ``apply`` does), plans again, applies each target's own plan in parallel (a blocked or
   failing target does not stop the others), carries out the moves only with
   ``--allow-moves`` (``pipeline.moves``: journaled and backed up, as ``apply --allow-moves``),
   then plans once more to say what was resolved.

``--target NAME`` limits what the daemon reconciles to those targets: the others are still read
(placement, moves and duplicates need every listing) under their own backoff, but their drift
is not announced, nothing is applied there, moves touching them wait, and readiness ignores
them.

``readiness``: ready when the fleet file loads, every reconciled target was attempted, and at
least one of them is ready by the single-target rule (last cycle succeeded, recently). One
server down makes that target unready in the body (and its metrics say so), not the daemon: a
fleet agent that reconciles the others is doing its job, and a rollout of it must not hang on
one CPA. Every target down, or the file broken: 503.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.core.fleet import FleetPlan, Move
from reconciler.daemon import drift
from reconciler.daemon.cycle import CycleJob, DaemonConfig, TargetState, blocker_lines
from reconciler.daemon.events import EventSink, TargetEvents, now_rfc3339
from reconciler.daemon.metrics import Metrics
from reconciler.desired.fleet import LoadedFleet, load_fleet
from reconciler.output.fleet import move_done_here
from reconciler.output.plan_json import safe_url
from reconciler.pipeline import apply as executor
from reconciler.pipeline import fleet as pfleet
from reconciler.pipeline import moves as pmoves
from reconciler.pipeline import planning
from reconciler.statedir.backup import Backup, prune_backups
from reconciler.statedir.journal import Journal
from reconciler.statedir.lock import state_lock


@dataclass
class _Slot:
    """One target of the fleet: its state across cycles and its events."""

    name: str
    state: TargetState
    events: TargetEvents
    noted_url: str | None = None

    def proxy_note(self, target: planning.Target) -> TextIO | None:
        """stderr the first time the target is used (its proxy is named there), else None."""
        if target.url == self.noted_url:
            return None
        self.noted_url = target.url
        return sys.stderr


@dataclass
class _Read:
    """One read of the fleet: the plan, and the targets that failed (with their errors)."""

    planned: pfleet.FleetPlanned
    failures: dict[str, errors.ReconcilerError] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # unfinished moves: name -> dest


@dataclass
class _Round:
    """One cycle's view: the file, each target's URL and key, the clients of the targets it
    may read, which it reconciles, and each target's result so far (a target with a result
    failed, or was skipped, and is not read again this cycle)."""

    loaded: LoadedFleet
    targets: dict[str, planning.Target]
    key_fps: dict[str, str]  # the targets that may be read: name -> key fingerprint
    chosen: tuple[str, ...]
    results: dict[str, str] = field(default_factory=dict)
    clients: Mapping[str, ManagementClient] = field(default_factory=dict)

    def live(self) -> dict[str, ManagementClient]:
        """The clients of the targets nothing failed on yet."""
        return {n: c for n, c in self.clients.items() if n not in self.results}


@dataclass
class _Pending:
    """What the fleet tracker announced and has not seen resolved."""

    moves: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    duplicates: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)


class FleetReconciler(CycleJob):
    """The fleet daemon's state across cycles, and one cycle (``tick``) at a time."""

    def __init__(
        self,
        config: DaemonConfig,
        events: EventSink,
        metrics: Metrics,
        stop: threading.Event,
        environ: Mapping[str, str],
    ) -> None:
        self.config = config
        self.events = events
        self.metrics = metrics
        self.stop = stop
        self.environ = environ
        self.cycle = 0
        self.slots: dict[str, _Slot] = {}
        self._busy = threading.Lock()
        self._salt = secrets.token_bytes(16)  # keys and desired states compared by HMAC only
        self._last_good: LoadedFleet | None = None
        self._last_digest: str | None = None
        self._desired_ok = False
        self._reported: dict[str, str] = {}  # fleet-level errors said once per message
        self._pending = _Pending()
        self._moves_blocked: str | None = None
        #: not used for a fleet (credential health is per single target for now)
        self.on_listing: Callable[[list[Any]], object] | None = None

    # -- the scheduled job ---------------------------------------------------------------

    def overlapped(self) -> None:
        """A scheduled run found the previous cycle still running: skipped, for every target."""
        for slot in list(self.slots.values()):  # (the scheduler's thread)
            slot.state.target_metrics.cycle("skipped")

    def _begin(self) -> None:
        self.cycle += 1
        for slot in self.slots.values():
            slot.state.cycle = self.cycle

    def _results(self) -> dict[str | None, str]:
        out: dict[str | None, str] = {}
        out.update(self._cycle())
        return out

    def _internal_error(self, where: str) -> dict[str | None, str]:
        self._emit("reconcile.error", stage="internal", reason=where)
        out: dict[str | None, str] = {}
        for name, slot in self.slots.items():
            slot.state._last_stage = "internal"
            out[name] = "error"
        return out

    def _record_results(self, results: Mapping[str | None, str]) -> None:
        for name, result in results.items():
            if name in self.slots:
                self.slots[name].state._record(result)

    def _emit(self, event: str, **fields: Any) -> None:
        self.events.emit(event, cycle=self.cycle, **fields)

    # -- one cycle -----------------------------------------------------------------------

    def _cycle(self) -> dict[str, str]:
        loaded, desired_changed = self._load_desired()
        if loaded is None:
            return {}
        self._sync_slots(loaded)
        rnd = _Round(loaded, {}, {}, self._chosen(loaded))
        for name in loaded.fleet.names:
            slot = self.slots[name]
            try:
                target = pfleet.target_for(loaded, name, self.config.target)
            except errors.ReconcilerError as exc:
                slot.state._report("target", exc)
                slot.state._last_stage = "target"
                rnd.results[name] = "error"
                continue
            slot.state._reported.pop("target", None)
            slot.events.url = safe_url(target.url)
            rnd.targets[name] = target
            key_fp = hmac.new(self._salt, target.key.encode(), hashlib.sha256).hexdigest()
            if slot.state._may_send(key_fp):
                rnd.key_fps[name] = key_fp
            else:
                rnd.results[name] = "skipped"
        with self._clients(rnd) as clients:
            rnd.clients = clients
            read = self._read(rnd)
            resolved_by = "desired-state" if desired_changed else "server"
            for name in read.planned.lives:
                slot = self.slots[name]
                version = clients[name].server_version
                if version is not None:
                    slot.state.target_metrics.set_server(
                        version.version, version.commit, version.build_date
                    )
                if name not in rnd.chosen:
                    continue
                plan = read.planned.plan.plans[name]
                slot.state._track(self._items(loaded, name, plan), resolved_by)
                if not plan.blockers:
                    slot.state._blocked_signature = None
            self._track_fleet(read.planned.plan, rnd.chosen, resolved_by)
            if self.config.mode == "heal":
                self._heal(rnd, read)
        results = rnd.results
        for name in read.planned.lives:
            if name in results:
                continue
            state = self.slots[name].state
            state._backoff.succeeded()
            state._last_stage = None
            results[name] = "success"
            if not self._desired_ok:
                state._last_stage = "desired-state"
                results[name] = "error"  # observed fine, but the file is broken: not ready
        return results

    def _load_desired(self) -> tuple[LoadedFleet | None, bool]:
        """The fleet file to use (the last good one when it is broken now), and whether it
        changed."""
        try:
            loaded = load_fleet(self.config.desired, environ=self.environ)
        except errors.ReconcilerError as exc:
            self.metrics.desired_valid.set(0)
            self._desired_ok = False
            for slot in self.slots.values():
                slot.state.target_metrics.failure("desired-state")
            message = str(exc)
            if self._reported.get("desired-state") != message:
                self._reported["desired-state"] = message
                kept = "; the last good desired state is kept" if self._last_good else ""
                self._emit(
                    "reconcile.error",
                    stage="desired-state",
                    reason=message + kept,
                    path=getattr(exc, "path", None),
                    line=getattr(exc, "line", None),
                )
            return self._last_good, False
        self.metrics.desired_valid.set(1)
        self._desired_ok = True
        recovered = self._reported.pop("desired-state", None) is not None
        for slot in self.slots.values():
            slot.state._reported.pop("apply.skipped", None)
        digest = self._digest(loaded)
        changed = self._last_digest is not None and digest != self._last_digest
        if digest != self._last_digest or recovered:
            self._emit(
                "desired.loaded",
                path=str(loaded.path),
                targets=list(loaded.fleet.names),
                config_keys=len(next(iter(loaded.fleet.states.values())).config or {}),
                auth_files=len(loaded.fleet.files),
                recovered=recovered or None,
            )
        self._last_good, self._last_digest = loaded, digest
        return loaded, changed

    def _digest(self, loaded: LoadedFleet) -> str:
        parts = [
            f"{name}:{loaded.endpoints[name].url}:"
            + planning.desired_fingerprint(pfleet.state_for(loaded, name), self._salt)
            for name in loaded.fleet.names
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _sync_slots(self, loaded: LoadedFleet) -> None:
        """One slot per target of the file: new targets get one, removed ones lose theirs
        (and their series)."""
        for name in loaded.fleet.names:
            if name not in self.slots:
                events = TargetEvents(self.events, name, loaded.endpoints[name].url)
                state = TargetState(self.config, events, self.metrics.target(name))
                state.cycle = self.cycle
                self.slots[name] = _Slot(name, state, events)
        for name in [n for n in self.slots if n not in loaded.endpoints]:
            del self.slots[name]
            self.metrics.drop_target(name)

    def _chosen(self, loaded: LoadedFleet) -> tuple[str, ...]:
        """The targets this daemon reconciles (``--target``; all when none is named). A named
        target the file no longer has is said once."""
        if not self.config.targets:
            return loaded.fleet.names
        missing = [n for n in self.config.targets if n not in loaded.endpoints]
        message = f"--target {', '.join(missing)}: no such target in {loaded.path}"
        if missing and self._reported.get("chosen") != message:
            self._reported["chosen"] = message
            self._emit("reconcile.error", stage="target", reason=message)
        elif not missing:
            self._reported.pop("chosen", None)
        return tuple(n for n in loaded.fleet.names if n in self.config.targets)

    @contextlib.contextmanager
    def _clients(self, rnd: _Round) -> Iterator[dict[str, ManagementClient]]:
        """A client for each target that may be read, closed on leaving."""
        with contextlib.ExitStack() as stack:
            clients: dict[str, ManagementClient] = {}
            for name in rnd.key_fps:
                target = rnd.targets[name]
                client = planning.make_client(
                    target,
                    state_dir=self.config.state_dir,  # failed attempts shared with plan/apply
                    redact=planning.secret_values(rnd.loaded.fleet.states[name]),
                    announce=self.slots[name].proxy_note(target),
                )
                clients[name] = stack.enter_context(client)
            yield clients

    def _read(self, rnd: _Round) -> _Read:
        """Read the targets nothing failed on yet, in parallel, and plan the fleet; a target
        that fails is that target's failure (its backoff or auth hold), in ``rnd.results``."""
        loaded = rnd.loaded
        lives, failures = pfleet.read_targets(loaded, rnd.live())
        for name, exc in failures.items():
            rnd.results[name] = self.slots[name].state._failure("plan", exc, rnd.key_fps[name])
        for name in lives:
            self.slots[name].state._auth.succeeded()  # the key works, whatever happens next
        try:
            pending = {e.name: e.dest for e in Journal(self.config.state_dir).entries()}
        except errors.ReconcilerError as exc:
            self._say_once("journal", "reconcile.error", stage="journal", reason=str(exc))
            pending = {}
        planned = pfleet.plan_read(
            loaded,
            rnd.targets,
            lives,
            {n: str(e) for n, e in failures.items()},
            chosen=rnd.chosen,
            allow_mass_delete=self.config.allow_mass_delete,
            allow_replace=self.config.allow_replace,
            pending=pending,
        )
        return _Read(planned, failures, pending)

    @staticmethod
    def _items(loaded: LoadedFleet, name: str, plan: Any) -> list[drift.DriftItem]:
        return drift.items_from_plan(plan, loaded.fleet.states[name].secret_paths)

    def _say_once(self, key: str, event: str, **fields: Any) -> None:
        text = str(sorted(fields.items()))
        if self._reported.get(key) == text:
            return
        self._reported[key] = text
        self._emit(event, **fields)

    # -- moves and duplicates ------------------------------------------------------------

    def _waiting(self, move: Move, chosen: tuple[str, ...], plan: FleetPlan) -> str | None:
        """Why ``move`` is not carried out this cycle (None: heal does it now)."""
        if self.config.mode != "heal":
            return "observe mode never writes; run apply --allow-moves or heal with it"
        if move.from_journal:
            return None
        if not move_done_here(move, chosen):
            return "it touches a target outside --target"
        if not self.config.allow_moves:
            return "heal moves credentials only with --allow-moves; run apply --allow-moves"
        if plan.blockers:
            return "blocked: " + "; ".join(b.message for b in plan.blockers)
        if not self._desired_ok:
            return "the desired-state file is invalid; nothing is applied until it loads again"
        return None

    def _track_fleet(self, plan: FleetPlan, chosen: tuple[str, ...], resolved_by: str) -> None:
        """Announce new moves and duplicates once each, and those that are gone."""
        self.metrics.moves.set(len(plan.moves))
        self.metrics.duplicates.set(len(plan.duplicates))
        now = now_rfc3339()
        seen_moves: set[tuple[str, str, str, str]] = set()
        for move in plan.moves:
            key = (move.name, move.source, move.source_name, move.dest)
            seen_moves.add(key)
            if key in self._pending.moves:
                continue
            fields: dict[str, Any] = {
                "name": move.name,
                "from": move.source,
                "from_name": move.source_name if move.source_name != move.name else None,
                "to": move.dest,
                "reason": move.reason,
                "drop": [c.address for c in move.drop] or None,
                "from_journal": move.from_journal or None,
                "first_seen": now,
            }
            self._pending.moves[key] = fields
            self._emit("move.pending", **fields, waiting=self._waiting(move, chosen, plan))
        unread = set(plan.unread)
        for key in [k for k in self._pending.moves if k not in seen_moves]:
            fields = self._pending.moves[key]
            involved = {
                fields["from"],
                fields["to"],
                *(a.split("/", 1)[0] for a in fields["drop"] or ()),
            }
            if involved & unread:
                continue  # not seen because a target was not read: still pending
            del self._pending.moves[key]
            self._emit("move.resolved", **fields, resolved_by=resolved_by)
        seen_dups: set[tuple[str, ...]] = set()
        for dup in plan.duplicates:
            dkey = (dup.identity, *sorted(c.address for c in dup.copies))
            seen_dups.add(dkey)
            if dkey in self._pending.duplicates:
                continue
            fields = {
                "identity": dup.identity,
                "copies": [
                    {"target": c.target, "name": c.name, "last_refresh": c.last_refresh}
                    for c in dup.copies
                ],
                "keep": dup.keep.address if dup.keep is not None else None,
                "note": dup.note,
                "first_seen": now,
            }
            self._pending.duplicates[dkey] = fields
            self._emit("duplicate.detected", **fields)
        for dkey in [k for k in self._pending.duplicates if k not in seen_dups]:
            fields = self._pending.duplicates[dkey]
            if {c["target"] for c in fields["copies"]} & unread:
                continue
            del self._pending.duplicates[dkey]
            self._emit(
                "duplicate.resolved",
                identity=fields["identity"],
                first_seen=fields["first_seen"],
                resolved_by=resolved_by,
            )

    # -- heal ----------------------------------------------------------------------------

    def _heal(self, rnd: _Round, read: _Read) -> None:
        plan = read.planned.plan
        work = [n for n in rnd.chosen if n in plan.plans and plan.plans[n].actions]
        moves = self._moves_todo(plan, rnd) if self.config.allow_moves else []
        journal = bool(read.pending)
        if not work and not moves and not journal:
            return
        if not self._desired_ok:
            for name in work:
                self.slots[name].state._skip(
                    "desired-invalid",
                    "the desired-state file is invalid; nothing is applied until it loads again",
                )
            return
        for name in list(work):
            if plan.plans[name].blockers:
                self.slots[name].state._blocked(plan.plans[name])
                work.remove(name)
        if self.stop.is_set():
            for name in work:
                self.slots[name].state._skip(
                    "stopping", "the daemon is stopping; no apply is started"
                )
            return
        if not work and not moves and not journal:
            return
        try:
            with state_lock(self.config.state_dir):
                applied = self._apply_locked(rnd)
        except errors.LockedError as exc:
            for name in work:
                self.slots[name].state._skip("locked", str(exc))
            return
        if applied is None:
            return
        self._verify(rnd, *applied)

    @staticmethod
    def _moves_todo(plan: FleetPlan, rnd: _Round) -> list[Move]:
        """The moves this cycle may carry out: none from the journal (recovered first), each
        within ``--target`` and between targets read now."""
        live = rnd.live()
        return [
            m
            for m in plan.moves
            if not m.from_journal
            and move_done_here(m, rnd.chosen)
            and all(t in live for t in (m.source, m.dest, *(c.target for c in m.drop)))
        ]

    def _apply_locked(
        self, rnd: _Round
    ) -> tuple[dict[str, executor.ApplyResult], dict[str, set[str]]] | None:
        """Under the lock: the journal first, a fresh plan, each target's apply, the moves.
        Returns what each target applied and the drift it meant to fix (None: nothing)."""
        loaded = rnd.loaded
        journal = Journal(self.config.state_dir)
        mine = {n: c for n, c in rnd.live().items() if n in rnd.chosen}
        recovered = pmoves.recover(journal, mine)
        for line in recovered.done:
            self._emit("move.done", reason=line, from_journal=True)
            self.metrics.moves_done.labels(result="done").inc()
        if recovered.failures:  # said once while the same moves stay unfinished
            self._say_once("recover", "move.failed", reason="; ".join(recovered.failures))
        else:
            self._reported.pop("recover", None)
        fresh = self._read(rnd)
        plan = fresh.planned.plan
        todo: list[str] = []
        for name in rnd.chosen:
            if name not in plan.plans or not plan.plans[name].actions:
                continue
            if plan.plans[name].blockers:
                self.slots[name].state._blocked(plan.plans[name])
            else:
                todo.append(name)
        moves = self._moves_todo(plan, rnd) if self.config.allow_moves else []
        if moves and plan.blockers:
            self._moves_blocked_once(plan)
            moves = []
        if not todo and not moves:
            return ({}, {}) if recovered.done else None  # verify what the journal ended
        backups = {
            n: Backup.new(self.config.state_dir, rnd.targets[n].url) for n in fresh.planned.lives
        }
        intended = {
            n: {i.key for i in self._items(loaded, n, plan.plans[n]) if i.op != drift.UNRESOLVED}
            for n in todo
        }
        try:
            applied = self._apply_targets(fresh.planned, todo, rnd, backups)
            if moves:
                self._move(moves, rnd, journal, backups)
        finally:
            if any(b.exists for b in backups.values()):
                try:
                    prune_backups(self.config.state_dir, self.config.keep_backups)
                except errors.ReconcilerError as exc:
                    self._emit("reconcile.error", stage="backups", reason=str(exc))
        return applied, {n: intended[n] for n in applied}

    def _moves_blocked_once(self, plan: FleetPlan) -> None:
        messages = blocker_lines(plan.blockers)
        signature = "\n".join(messages)
        if signature == self._moves_blocked:
            return
        self._moves_blocked = signature
        self._emit(
            "apply.blocked",
            rules=sorted({b.rule for b in plan.blockers}),
            reason="moves: " + "; ".join(messages),
        )

    def _apply_targets(
        self,
        planned: pfleet.FleetPlanned,
        todo: list[str],
        rnd: _Round,
        backups: Mapping[str, Backup],
    ) -> dict[str, executor.ApplyResult]:
        """Each target's own plan, in parallel (bounded); one that fails is that target's
        failure and the others go on."""
        applied: dict[str, executor.ApplyResult] = {}
        if not todo:
            return applied

        def one(name: str) -> executor.ApplyResult:
            return pfleet.apply_target(planned, name, rnd.clients[name], backups[name])

        with ThreadPoolExecutor(max_workers=min(pfleet.MAX_WORKERS, len(todo))) as pool:
            futures = {name: pool.submit(one, name) for name in todo}
            for name, future in futures.items():
                state = self.slots[name].state
                try:
                    applied[name] = future.result()
                except (errors.UnauthorizedError, errors.ForbiddenError) as exc:
                    rnd.results[name] = state._failure("apply", exc, rnd.key_fps[name])
                except errors.ReconcilerError as exc:
                    rnd.results[name] = state._apply_error(exc, rnd.key_fps[name])
        return applied

    def _move(
        self, moves: list[Move], rnd: _Round, journal: Journal, backups: Mapping[str, Backup]
    ) -> None:
        """The moves, exactly as ``apply --allow-moves`` carries them out."""
        self._moves_blocked = None
        urls = {n: t.url for n, t in rnd.targets.items()}
        try:
            result = pmoves.execute(moves, rnd.loaded.fleet, rnd.clients, urls, journal, backups)
        except errors.ApplyError as exc:
            self.metrics.moves_done.labels(result="failed").inc()
            self._emit(
                "move.failed",
                reason=str(exc),
                done=getattr(exc, "done", None),
                not_done=getattr(exc, "not_done", None),
            )
            return
        for line in result.done:
            self.metrics.moves_done.labels(result="done").inc()
            self._emit("move.done", reason=line)
        for line in result.failures:
            self.metrics.moves_done.labels(result="failed").inc()
            self._emit("move.failed", reason=line)

    def _verify(
        self,
        rnd: _Round,
        applied: dict[str, executor.ApplyResult],
        intended: dict[str, set[str]],
    ) -> None:
        """Plan once more: what the applies and moves resolved, and whether each converged."""
        verified = self._read(rnd)
        for name, result in applied.items():
            state = self.slots[name].state
            if name not in verified.planned.lives:
                state._applied(result)
                continue
            items = self._items(rnd.loaded, name, verified.planned.plan.plans[name])
            failed = state._converged(result, intended[name], items)
            if failed is not None:
                rnd.results[name] = failed
        self._track_fleet(verified.planned.plan, rnd.chosen, "apply")

    # -- for the quota job (not for a fleet yet) -------------------------------------------

    def quota_client(self) -> ManagementClient | None:
        return None

    def quota_refused(self, exc: errors.ApiError) -> None:
        """Not used: the quota job does not run for a fleet."""

    # -- readiness -----------------------------------------------------------------------

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the file loads, every reconciled target was attempted and at least one
        of them is ready (see the module docstring)."""
        detail: dict[str, Any] = {"cycle": self.cycle}
        loaded = self._last_good
        if loaded is None:
            reason = (
                "the desired-state file has not loaded yet"
                if self._reported.get("desired-state")
                else "no cycle has completed yet"
            )
            return False, {**detail, "reason": reason}
        chosen = self._chosen_quiet(loaded)
        per: dict[str, dict[str, Any]] = {}
        attempted = True
        for name in chosen:
            slot = self.slots.get(name)
            if slot is None:
                attempted = False
                continue
            ready, info = slot.state.readiness()
            per[name] = {"ready": ready, **{k: v for k, v in info.items() if k != "cycle"}}
            attempted = attempted and (slot.state._last_result is not None or slot.state._auth.held)
        count = sum(1 for p in per.values() if p["ready"])
        detail.update(targets=per, targets_ready=count, targets_total=len(chosen))
        if not self._desired_ok:
            return False, {**detail, "reason": "the desired-state file is invalid"}
        if not attempted:
            return False, {**detail, "reason": "not every target was attempted yet"}
        if not count:
            return False, {**detail, "reason": "no target is ready"}
        return True, detail

    def _chosen_quiet(self, loaded: LoadedFleet) -> tuple[str, ...]:
        if not self.config.targets:
            return loaded.fleet.names
        return tuple(n for n in loaded.fleet.names if n in self.config.targets)
