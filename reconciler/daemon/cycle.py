"""One reconcile cycle of the drift daemon, and the state kept from one cycle to the next.

``Reconciler.tick`` is the job the daemon's scheduler runs (``reconciler.daemon.service`` owns the loop):

1. Re-read the desired-state file and its references. A broken file is a ``reconcile.error``
   naming file:line (once per distinct error); the last good state is kept for observing, and
   **nothing is applied while the file is broken**, in either mode (``apply.skipped``).
2. Re-read the target and key (``--management-key-file``, ``${file:}`` references). After a
   401/403 no authenticated request is sent until the hold ends or the key changes
   (``backoff.AuthHold``); after other failures attempts back off (``backoff.FailureBackoff``).
   The client also consults the state directory's record of failed authentications
   (``statedir.auth_record``), shared with ``plan``/``apply`` runs: a key those runs already
   failed with is not tried, and this daemon's failures are held against them too.
3. Plan with ``planning.plan_once`` (read-only), turn the plan into drift items and announce
   what is new and what resolved (``drift.DriftTracker``). A declared credential gone from the
   server with no ``source`` is not drift apply can fix: it is a ``credential.missing`` error
   (with the remedy) and ``credential.resolved`` when it is back, counted in
   ``reconciler_credentials_missing``.
4. In ``heal`` mode, when there is drift: under the state-directory lock, plan again and apply
   with ``apply.apply_plan`` exactly as ``reconciler apply`` does (safety rules, backups, no
   token re-upload); a blocked plan is an ``apply.blocked`` event, never an apply. Then plan
   once more: what the apply resolved is announced, and an apply after which the same items
   still differ is a failure that backs off rather than a loop of writes. No apply is started
   once stop is requested.

Every ``summary_interval`` seconds a ``cycle.summary`` says how many cycles ran and what is
still different, so a quiet daemon and a stuck one read differently in the logs.

``readiness`` answers ``/readyz`` from the same state. Missing credentials do not make the
daemon unready: readiness says whether the daemon does its job (reach CPA, plan, heal), not
whether CPA holds every credential; ``/readyz`` names them in its body and the error event and
the gauge are what to alert on.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.core.plan import MISSING_CREDENTIAL_REMEDY, Plan
from reconciler.core.safety import Blocker
from reconciler.daemon import backoff, drift
from reconciler.daemon.events import Emitter, EventSink, now_rfc3339
from reconciler.daemon.metrics import Metrics, TargetMetrics
from reconciler.desired.loader import LoadedDesired
from reconciler.pipeline import apply as executor
from reconciler.pipeline import planning
from reconciler.statedir.backup import DEFAULT_KEEP, Backup, prune_backups
from reconciler.statedir.lock import state_lock

MODES = ("observe", "heal")
READY_INTERVALS = 3  # /readyz: the last success is at most this many intervals old


@dataclass(frozen=True)
class DaemonConfig:
    """Everything ``reconciler daemon`` was asked to do (see ``commands/daemon.py``)."""

    desired: str
    state_dir: Path
    target: planning.TargetOptions = field(default_factory=planning.TargetOptions)
    interval: float = 60.0
    jitter: float = 0.1  # a fraction of the interval, added at random to each run
    mode: str = "observe"
    listen: str | None = "127.0.0.1:9464"
    log_format: str = "json"
    webhook_url: str | None = None
    webhook_secret: bytes | None = None
    ban_backoff: float = 1800.0
    allow_mass_delete: bool = False
    allow_replace: bool = False
    # a fleet file (reconciler.daemon.fleet): --target NAME (none: all), --allow-moves (heal)
    targets: tuple[str, ...] = ()
    allow_moves: bool = False
    shutdown_timeout: float = 5.0
    keep_backups: int = DEFAULT_KEEP
    summary_interval: float = 3600.0  # seconds between cycle.summary events; 0: none
    # credential health and quota (reconciler.daemon.quota_job): --quota-interval (None: no
    # quota job), --quota-endpoint, --quota-concurrency, --quota-warn
    quota_interval: float | None = None
    quota_endpoints: Mapping[str, str] = field(default_factory=dict)
    quota_concurrency: int = 4
    quota_warn: float = 90.0


def blocker_lines(blockers: Iterable[Blocker]) -> list[str]:
    """Each safety rule that blocks a plan, with its override."""
    return [b.message + (f" (override: {b.override})" if b.override else "") for b in blockers]


class TargetState:
    """What the daemon keeps about one server from one cycle to the next: its drift (announced
    once), its auth hold and failure backoff, its results (for ``/readyz`` and the summary), and
    the events and metrics that say so. The single-target ``Reconciler`` is one; a fleet daemon
    (``reconciler.daemon.fleet``) keeps one per target, each with its own hold and backoff."""

    def __init__(self, config: DaemonConfig, events: Emitter, metrics: TargetMetrics) -> None:
        self.config = config
        self.events = events
        self.target_metrics = metrics
        self.cycle = 0
        self._tracker = drift.DriftTracker()
        self._auth = backoff.AuthHold(config.ban_backoff)
        self._backoff = backoff.FailureBackoff(config.interval)
        self._reported: dict[str, str] = {}  # stage -> last error reported (no repeats)
        self._blocked_signature: str | None = None
        self._failed_cycles = 0
        self._last_result: str | None = None
        self._last_stage: str | None = None
        self._last_success: float | None = None
        self._last_success_time: str | None = None
        self._summary_at = time.monotonic()
        self._summary_since = now_rfc3339()
        self._summary_cycles = dict.fromkeys(("success", "error", "skipped"), 0)

    def _record(self, result: str) -> None:
        """Count one cycle's result for this target (the caller times the cycle)."""
        self.target_metrics.cycle(result)
        self.target_metrics.set_auth_backoff(self._auth.held)
        self._summarise(result)
        if result == "skipped":
            return
        self._last_result = result
        if result == "success":
            self._last_success = time.monotonic()
            self._last_success_time = now_rfc3339()
            self.target_metrics.set_last_success(time.time())
            if self._failed_cycles:
                self._emit("reconcile.recovered", failed_cycles=self._failed_cycles)
            self._failed_cycles = 0
        else:
            self._failed_cycles += 1

    def _summarise(self, result: str) -> None:
        """Count the cycle; once ``summary_interval`` has passed, say what the cycles did."""
        self._summary_cycles[result] = self._summary_cycles.get(result, 0) + 1
        interval = self.config.summary_interval
        now = time.monotonic()
        if interval <= 0 or now - self._summary_at < interval:
            return
        self._emit(
            "cycle.summary",
            mode=self.config.mode,
            since=self._summary_since,
            cycles=dict(self._summary_cycles),
            drift_items=sum(self._tracker.counts().values()),
            credentials_missing=self._tracker.missing_credentials(),
            last_success=self._last_success_time,
        )
        self._summary_at, self._summary_since = now, now_rfc3339()
        self._summary_cycles = dict.fromkeys(self._summary_cycles, 0)

    def _may_send(self, key_fp: str) -> bool:
        """The auth hold and the failure backoff; says when a hold lets one attempt through."""
        now = time.monotonic()
        gate = self._auth.gate(now, key_fp)
        if gate is backoff.Gate.HOLD:
            return False
        if gate is backoff.Gate.SEND:
            return self._backoff.ready(now)
        why = (
            "the key changed"
            if gate is backoff.Gate.RETRY_KEY_CHANGED
            else "the backoff window ended"
        )
        self._emit("auth.retry", reason=f"{why}: one authenticated attempt")
        return True

    def _track(self, items: list[drift.DriftItem], resolved_by: str) -> None:
        """Announce what is new in ``items`` (this cycle's drift) and what resolved."""
        update = self._tracker.observe(items, now=now_rfc3339(), cycle=self.cycle)
        for tracked in update.detected:
            if tracked.item.op == drift.UNRESOLVED:
                self._emit(
                    "credential.missing",
                    kind=tracked.item.kind,
                    name=tracked.item.name,
                    reason=tracked.item.reason,
                    remedy=MISSING_CREDENTIAL_REMEDY,
                    first_seen=tracked.first_seen,
                )
                continue
            self._emit("drift.detected", **tracked.item.fields(), first_seen=tracked.first_seen)
        for tracked in update.changed:
            fields = tracked.item.fields()
            self._emit("drift.detected", **fields, first_seen=tracked.first_seen, changed=True)
        for tracked in update.resolved:
            if tracked.item.op == drift.UNRESOLVED:
                self._emit(
                    "credential.resolved",
                    kind=tracked.item.kind,
                    name=tracked.item.name,
                    first_seen=tracked.first_seen,
                    resolved_by=resolved_by,
                )
                continue
            fields = tracked.item.fields()
            self._emit(
                "drift.resolved", **fields, first_seen=tracked.first_seen, resolved_by=resolved_by
            )
        self.target_metrics.set_drift(update.count_by_kind())
        self.target_metrics.set_missing(update.missing_credentials())

    def _converged(
        self, result: executor.ApplyResult, intended: set[str], items: list[drift.DriftItem]
    ) -> str | None:
        """After an apply, ``items`` (planned once more): what it resolved, and whether it
        converged at all. An apply after which the same items still differ (a server that
        rewrites what was written, an ``ignore`` missing) is a failure that backs off, not a
        loop of writes. Returns "error" then, else None."""
        stuck = intended & {i.key for i in items}
        failed: str | None = None
        if stuck:
            failed = self._apply_failed(
                errors.ApplyError(
                    f"the apply did not converge: {len(stuck)} of {len(intended)} drift item(s) "
                    "still differ right after it (does the server rewrite them? consider "
                    "config-policy.ignore); retrying with backoff",
                    done=list(result.done),
                    not_done=[],
                )
            )
        else:
            self._applied(result)
        self._track(items, "apply")
        return failed

    def _applied(self, result: executor.ApplyResult) -> None:
        self._blocked_signature = None  # pragma: no mutate (""/None alike: no signature is "")
        backup = result.backup
        self.target_metrics.apply("success")
        self._emit(
            "apply.succeeded",
            actions=list(result.done),
            backup=str(backup.root) if backup is not None and backup.exists else None,
            restart_required=list(result.restart_required) or None,
        )

    def _apply_error(self, exc: errors.ReconcilerError, key_fp: str) -> str:
        """An apply that stopped part-way. When what stopped it was CPA refusing the key (a
        401/403 on a write: ``ApplyError`` from the refusal), the operator gets both
        ``apply.failed`` (what was done, what was not) and the auth hold any refusal starts,
        so that nothing authenticated is sent until the key changes or the window ends."""
        refused = exc.__cause__
        if not isinstance(refused, errors.UnauthorizedError | errors.ForbiddenError):
            return self._apply_failed(exc)
        self._apply_failed_event(exc)
        return self._failure("apply", refused, key_fp)

    def _apply_failed(self, exc: errors.ReconcilerError) -> str:
        delay = self._backoff.failed(time.monotonic())
        self.target_metrics.failure("apply")
        self._apply_failed_event(exc, retry_in=round(delay, 3))
        self._last_stage = "apply"
        return "error"

    def _apply_failed_event(self, exc: errors.ReconcilerError, **fields: Any) -> None:
        self.target_metrics.apply("failure")
        self._emit(
            "apply.failed",
            reason=str(exc),
            done=getattr(exc, "done", None),
            not_done=getattr(exc, "not_done", None),
            **fields,
        )

    def _blocked(self, plan: Plan) -> None:
        messages = blocker_lines(plan.blockers)
        signature = "\n".join(messages)
        self.target_metrics.apply("blocked")
        if signature == self._blocked_signature:
            return
        self._blocked_signature = signature
        rules = sorted({b.rule for b in plan.blockers})
        self._emit("apply.blocked", rules=rules, reason="; ".join(messages))

    def _skip(self, why: str, reason: str) -> str | None:
        self.target_metrics.apply("skipped")
        if why == "desired-invalid" and self._reported.get("apply.skipped") == reason:
            return None
        self._reported["apply.skipped"] = reason
        self._emit("apply.skipped", reason=reason)
        return None

    def _failure(self, stage: str, exc: errors.ReconcilerError, key_fp: str) -> str:
        now = time.monotonic()
        self._last_stage = stage
        if isinstance(exc, errors.UnauthorizedError | errors.ForbiddenError):
            counted = isinstance(exc, errors.UnauthorizedError) and exc.status == 401
            hold = self._auth.refused(now, key_fp, counted=counted)
            self._last_stage = "auth"  # pragma: no mutate (readiness names the hold first)
            self.target_metrics.failure("auth")
            self.target_metrics.set_auth_backoff(True)
            self._emit("reconcile.error", stage="auth", reason=str(exc))
            self._emit(
                "auth.backoff",
                reason="CPA refused the management key; no authenticated request is sent until "
                "the key changes or the window ends (CPA bans an IP after 5 failed attempts)",
                hold_seconds=round(hold, 3),
                failed_attempts=self._auth.failures_since_success,
            )
            return "error"
        delay = self._backoff.failed(now)
        self.target_metrics.failure(stage)
        self._emit(
            "reconcile.error",
            stage=stage,
            reason=str(exc),
            attempt=self._backoff.failures,
            retry_in=round(delay, 3),
        )
        return "error"

    def _report(
        self, stage: str, exc: errors.ReconcilerError, *, kept: bool = False, **fields: Any
    ) -> None:
        """A ``reconcile.error`` for a local problem, once per distinct message (``kept``: the
        last good desired state is kept)."""
        self.target_metrics.failure(stage)
        message = str(exc)
        if self._reported.get(stage) == message:
            return
        self._reported[stage] = message
        suffix = "; the last good desired state is kept" if kept else ""
        self._emit("reconcile.error", stage=stage, reason=message + suffix, **fields)

    def _emit(self, event: str, **fields: Any) -> None:
        self.events.emit(event, cycle=self.cycle, **fields)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the last cycle succeeded and the last success is recent."""
        detail: dict[str, Any] = {"cycle": self.cycle, "last_success": self._last_success_time}
        if self._auth.held:
            return False, {**detail, "reason": "CPA refused the management key (auth backoff)"}
        if self._last_result is None:
            return False, {**detail, "reason": "no cycle has completed yet"}
        if self._last_result != "success":
            return False, {
                **detail,
                "reason": f"the last cycle failed ({self._last_stage or 'error'})",
            }
        age = time.monotonic() - (self._last_success or 0.0)
        limit = READY_INTERVALS * self.config.interval * (1 + self.config.jitter)
        detail["age_seconds"] = round(age, 3)
        if age > limit:
            return False, {**detail, "reason": f"no successful cycle for {age:.0f} s"}
        missing = self._tracker.missing_credentials()
        if missing:
            detail["credentials_missing"] = missing  # not unready: see the module docstring
        return True, detail


class CycleJob:
    """The scheduled job: one cycle at a time (``tick``), never raising (an unexpected error
    is an event, the daemon lives on), timed, and waited for at shutdown (``quiesce``). The
    single-target ``Reconciler`` and the fleet's ``FleetReconciler`` say what a cycle is
    (``_results``: a result per target, ``None`` for the single one) and how it is counted."""

    stop: threading.Event
    metrics: Metrics
    cycle: int
    _busy: threading.Lock

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    def quiesce(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the running cycle to end, then start no other.
        True when no cycle is running any more."""
        return self._busy.acquire(timeout=max(0.0, timeout))

    def tick(self) -> None:
        """One cycle; never raises (an unexpected error is an event, the daemon lives on)."""
        if self.stop.is_set() or not self._busy.acquire(blocking=False):
            return
        try:
            if self.stop.is_set():
                return
            self._begin()
            self.metrics.in_progress.set(1)
            started = time.monotonic()
            try:
                results = self._results()
            except Exception as exc:  # a bug of ours: say where, keep serving
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                where = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
                print(f"internal error: {where}", file=sys.stderr, flush=True)
                results = self._internal_error(where)
            if any(r != "skipped" for r in results.values()):
                self.metrics.duration.observe(time.monotonic() - started)
            self._record_results(results)
        finally:
            self.metrics.in_progress.set(0)
            self._busy.release()

    def _begin(self) -> None:
        self.cycle += 1

    def _results(self) -> Mapping[str | None, str]:
        raise NotImplementedError

    def _internal_error(self, where: str) -> Mapping[str | None, str]:
        raise NotImplementedError

    def _record_results(self, results: Mapping[str | None, str]) -> None:
        raise NotImplementedError


class Reconciler(TargetState, CycleJob):
    """The single-target daemon: the state kept across cycles, and one cycle (``tick``) at a
    time."""

    def __init__(
        self,
        config: DaemonConfig,
        events: EventSink,
        metrics: Metrics,
        stop: threading.Event,
        environ: Mapping[str, str],
    ) -> None:
        super().__init__(config, events, metrics.target())
        self.sink = events
        self.metrics = metrics
        self.stop = stop
        self.environ = environ
        self._busy = threading.Lock()
        self._salt = secrets.token_bytes(16)  # keys and desired states compared by HMAC only
        self._last_good: LoadedDesired | None = None
        self._last_digest: str | None = None
        self._noted_url: str | None = None
        #: sees each cycle's auth-file listing (the credential health metrics)
        self.on_listing: Callable[[list[Any]], object] | None = None

    # -- the scheduled job ---------------------------------------------------------------

    def overlapped(self) -> None:
        """A scheduled run found the previous cycle still running: counted as skipped."""
        self.target_metrics.cycle("skipped")

    def _results(self) -> dict[str | None, str]:
        return {None: self._cycle()}

    def _internal_error(self, where: str) -> dict[str | None, str]:
        self._emit("reconcile.error", stage="internal", reason=where)
        self._last_stage = "internal"
        return {None: "error"}

    def _record_results(self, results: Mapping[str | None, str]) -> None:
        self._record(results[None])

    # -- one cycle -----------------------------------------------------------------------

    def _cycle(self) -> str:
        loaded, desired_ok, desired_changed = self._load_desired()
        if loaded is None:
            return "error"
        target = self._target(loaded)
        if target is None:
            return "error"
        key_fp = hmac.new(self._salt, target.key.encode(), hashlib.sha256).hexdigest()
        if not self._may_send(key_fp):
            return "skipped"
        result = self._observe_and_heal(loaded, target, key_fp, desired_ok, desired_changed)
        if result == "success" and not desired_ok:
            self._last_stage = "desired-state"
            return "error"  # observed fine, but the file is broken: not ready
        return result

    def _load_desired(self) -> tuple[LoadedDesired | None, bool, bool]:
        """The desired state to use, whether the file loaded now, and whether it changed."""
        try:
            loaded = planning.load(self.config.desired, self.environ)
        except errors.ReconcilerError as exc:
            self.metrics.desired_valid.set(0)
            self._report(
                "desired-state",
                exc,
                kept=self._last_good is not None,
                path=getattr(exc, "path", None),
                line=getattr(exc, "line", None),
            )
            if self._last_good is None:
                self._last_stage = "desired-state"
            return self._last_good, False, False
        self.metrics.desired_valid.set(1)
        recovered = self._reported.pop("desired-state", None) is not None
        self._reported.pop("apply.skipped", None)
        digest = planning.desired_fingerprint(loaded.state, self._salt) + str(loaded.target_url)
        changed = self._last_digest is not None and digest != self._last_digest
        if digest != self._last_digest or recovered:
            self._emit(
                "desired.loaded",
                path=str(loaded.path),
                config_keys=len(loaded.state.config or {}),
                auth_files=len(loaded.state.auth_files),
                recovered=recovered or None,
            )
        self._last_good, self._last_digest = loaded, digest
        return loaded, True, changed

    def _target(self, loaded: LoadedDesired) -> planning.Target | None:
        try:
            # The --management-key warning was printed once at start; not on every cycle.
            target = planning.target_for(loaded, self.config.target, self.environ, io.StringIO())
        except errors.ReconcilerError as exc:
            self._report("target", exc)
            self._last_stage = "target"
            return None
        self._reported.pop("target", None)
        self.sink.set_target(target.url)
        return target

    def quota_client(self) -> ManagementClient | None:
        """A client for the quota job: the target of the last good desired state, or None when
        there is none yet or the auth hold stops authenticated requests (the config cycle
        alone decides when to try the key again)."""
        loaded = self._last_good
        if loaded is None or self._auth.held:
            return None
        try:
            target = planning.target_for(loaded, self.config.target, self.environ, io.StringIO())
        except errors.ReconcilerError:
            return None  # the config cycle reports it
        return planning.make_client(
            target,
            state_dir=self.config.state_dir,
            redact=planning.secret_values(loaded.state),
        )

    def quota_refused(self, exc: errors.ApiError) -> None:
        """CPA refused the key during a quota read: hold authenticated requests as a cycle
        would (the next config cycle reports it)."""
        target = self._last_good
        if target is None:
            return
        key = planning.target_for(target, self.config.target, self.environ, io.StringIO()).key
        key_fp = hmac.new(self._salt, key.encode(), hashlib.sha256).hexdigest()
        self._failure("auth", exc, key_fp)

    def _proxy_note(self, target: planning.Target) -> TextIO | None:
        """stderr the first time a target is used (the proxy it goes through is named there,
        if any), else None: the note is not repeated every cycle."""
        if target.url == self._noted_url:
            return None
        self._noted_url = target.url
        return sys.stderr

    def _observe_and_heal(
        self,
        loaded: LoadedDesired,
        target: planning.Target,
        key_fp: str,
        desired_ok: bool,
        desired_changed: bool,
    ) -> str:
        with planning.make_client(
            target,
            state_dir=self.config.state_dir,  # failed attempts shared with plan/apply runs
            redact=planning.secret_values(loaded.state),
            announce=self._proxy_note(target),
        ) as client:
            client.on_auth_files = self.on_listing
            try:
                planned = self._plan(loaded, target, client)
            except errors.ReconcilerError as exc:
                return self._failure("plan", exc, key_fp)
            self._auth.succeeded()  # the key works, whatever happens next
            self._track(self._items(planned), "desired-state" if desired_changed else "server")
            if not planned.plan.blockers:
                self._blocked_signature = None  # pragma: no mutate (no signature is "")
            if self.config.mode == "heal" and planned.plan.actions:
                failed = self._heal(loaded, target, client, planned.plan, key_fp, desired_ok)
                if failed is not None:
                    return failed
        self._backoff.succeeded()
        self._last_stage = None  # pragma: no mutate (""/None alike: read only after a failure)
        return "success"

    def _plan(
        self, loaded: LoadedDesired, target: planning.Target, client: ManagementClient
    ) -> planning.Planned:
        planned = planning.plan_once(
            loaded,
            target,
            client,
            allow_mass_delete=self.config.allow_mass_delete,
            allow_replace=self.config.allow_replace,
        )
        version = client.server_version
        if version is not None:
            self.target_metrics.set_server(version.version, version.commit, version.build_date)
        return planned

    @staticmethod
    def _items(planned: planning.Planned) -> list[drift.DriftItem]:
        return drift.items_from_plan(planned.plan, planned.loaded.state.secret_paths)

    # -- heal ----------------------------------------------------------------------------

    def _heal(
        self,
        loaded: LoadedDesired,
        target: planning.Target,
        client: ManagementClient,
        plan: Plan,
        key_fp: str,
        desired_ok: bool,
    ) -> str | None:
        """Apply under the lock. Returns "error" when the cycle failed, else None."""
        if not desired_ok:
            return self._skip(
                "desired-invalid",
                "the desired-state file is invalid; nothing is applied until it loads again",
            )
        if plan.blockers:
            self._blocked(plan)
            return None
        if self.stop.is_set():
            return self._skip("stopping", "the daemon is stopping; no apply is started")
        try:
            with state_lock(self.config.state_dir):
                fresh = self._plan(loaded, target, client)
                if fresh.plan.blockers:
                    self._blocked(fresh.plan)
                    return None
                if not fresh.plan.actions:
                    return None
                intended = {i.key for i in self._items(fresh) if i.op != drift.UNRESOLVED}
                backup = Backup.new(self.config.state_dir, target.url)
                try:
                    result = executor.apply_plan(
                        fresh.plan,
                        loaded.state,
                        fresh.live,
                        client,
                        backup,
                        seed_key=planning.SEED_KEY,
                    )
                finally:
                    self._prune_backups(backup)
        except errors.LockedError as exc:
            return self._skip("locked", str(exc))
        except (errors.UnauthorizedError, errors.ForbiddenError) as exc:
            return self._failure("apply", exc, key_fp)
        except errors.ReconcilerError as exc:
            return self._apply_error(exc, key_fp)
        return self._verify(loaded, target, client, result, intended, key_fp)

    def _prune_backups(self, backup: Backup) -> None:
        """Keep the newest ``--keep-backups`` backups once this apply made one."""
        if not backup.exists:
            return
        try:
            prune_backups(self.config.state_dir, self.config.keep_backups)
        except errors.ReconcilerError as exc:
            self._emit("reconcile.error", stage="backups", reason=str(exc))

    def _verify(
        self,
        loaded: LoadedDesired,
        target: planning.Target,
        client: ManagementClient,
        result: executor.ApplyResult,
        intended: set[str],
        key_fp: str,
    ) -> str | None:
        """Plan once more after an apply: what it resolved, and whether it converged at all.

        An apply after which the same items still differ (a server that rewrites what was
        written, an ``ignore`` missing) is a failure that backs off, not a loop of writes.
        """
        try:
            verified = self._plan(loaded, target, client)
        except errors.ReconcilerError as exc:
            self._applied(result)
            return self._failure("plan", exc, key_fp)
        return self._converged(result, intended, self._items(verified))
