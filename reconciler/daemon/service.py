"""The drift daemon's loop: the scheduler, the health server, the webhook, and stopping.

``run(config, stop)`` runs ``cycle.Reconciler.tick`` from an APScheduler
``BackgroundScheduler`` (an interval job: first run at start, jitter, ``max_instances=1`` so one
cycle at a time, missed runs coalesced), serves ``/healthz``, ``/readyz`` and ``/metrics``, and
forwards drift and failure events to the webhook. It returns when ``stop`` (a
``threading.Event``) is set: no new cycle starts, the cycle in flight may finish within
``shutdown_timeout`` seconds, then the servers close and a ``daemon.stopped`` event says whether
a cycle was abandoned. What one cycle does is in ``reconciler.daemon.cycle``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry

from reconciler import __version__, errors
from reconciler.client.transport import proxy_for
from reconciler.daemon.cycle import MODES, DaemonConfig, Reconciler
from reconciler.daemon.events import EventSink
from reconciler.daemon.fleet import FleetReconciler
from reconciler.daemon.health import Endpoints, HealthServer, parse_listen
from reconciler.daemon.metrics import CONTENT_TYPE_LATEST, Metrics
from reconciler.daemon.quota_job import (
    CredentialMetrics,
    CredentialWatch,
    QuotaJob,
    QuotaSettings,
)
from reconciler.daemon.webhook import Webhook, shown_url
from reconciler.daemon.webhook import check_url as check_webhook_url
from reconciler.desired.fleet import is_fleet_file, load_fleet
from reconciler.pipeline import planning
from reconciler.statedir.private import ensure_state_dir

__all__ = ["MODES", "DaemonConfig", "Outcome", "StopFlag", "run"]


class StopFlag(threading.Event):
    """The stop flag: a ``threading.Event`` that also remembers why it was set."""

    reason: str | None = None

    def request(self, reason: str) -> None:
        if not self.is_set():
            self.reason = reason
        self.set()


@dataclass(frozen=True)
class Outcome:
    """How ``run`` ended: the exit code, and whether a cycle was still running (abandoned)."""

    exit_code: int
    abandoned_cycle: bool = False


# ---------------------------------------------------------------------------------------------
# The loop


def run(
    config: DaemonConfig,
    stop: threading.Event,
    *,
    stdout: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
) -> Outcome:
    """Run the daemon until ``stop`` is set. Raises ``UsageError`` before starting when the
    listen address or the webhook cannot be used."""
    if config.mode == "heal":
        _check_state_dir(config.state_dir)
    environ = environ if environ is not None else os.environ
    stream = stdout if stdout is not None else sys.stdout
    fleet = is_fleet_file(config.desired)
    metrics = Metrics(
        registry if registry is not None else CollectorRegistry(),
        targets=[] if fleet else None,  # a fleet's targets get their series as they are read
    )
    if config.webhook_url:
        check_webhook_url(config.webhook_url)
    sinks: list[EventSink] = []
    reconciler_box: list[Reconciler | FleetReconciler] = []
    health = _health(config, reconciler_box, metrics)  # binds first: a busy port stops us here
    webhook = _webhook(config, metrics, sinks)
    events = EventSink(
        stream,
        log_format=config.log_format,
        # until a cycle resolves it; a fleet's events name their target each
        target=None if fleet else config.target.url or environ.get("CPA_URL"),
        forward=webhook.submit if webhook is not None else None,
    )
    sinks.append(events)
    reconciler: Reconciler | FleetReconciler
    if fleet:
        reconciler = FleetReconciler(config, events, metrics, stop, environ)
    else:
        reconciler = Reconciler(config, events, metrics, stop, environ)
    reconciler_box.append(reconciler)
    scheduler = _scheduler(config, reconciler)
    if isinstance(reconciler, Reconciler):
        _credentials(config, reconciler, metrics, events, scheduler, stop)
    events.emit(
        "daemon.started",
        version=__version__,
        mode=config.mode,
        desired=config.desired,
        fleet=fleet or None,
        targets=list(config.targets) or None,
        allow_moves=config.allow_moves or None,
        interval=config.interval,
        jitter=config.jitter,
        listen=health.address if health is not None else None,
        webhook=shown_url(config.webhook_url) if config.webhook_url else None,
        state_dir=str(config.state_dir),
        proxies=start_proxies(config, environ, fleet=fleet) or None,
        pid=os.getpid(),
    )
    if health is not None:
        health.start()
    scheduler.start()
    try:
        while not stop.wait(0.2):
            pass
    finally:
        outcome = _shut_down(config, reconciler, scheduler, health, webhook)
        events.emit(
            "daemon.stopped",
            reason=getattr(stop, "reason", None) or "stop requested",
            cycle_in_progress=outcome[0],
            cycle_finished=not outcome[1],
        )
    return Outcome(0, abandoned_cycle=outcome[1])


def _check_state_dir(state_dir: Path) -> None:
    """Heal needs the state directory (lock, backups): refuse to start without it."""
    try:
        ensure_state_dir(state_dir)  # 0700, its .gitignore, never through a link
    except errors.UsageError as exc:
        raise errors.UsageError(
            f"heal needs a writable state directory for its lock and backups: {exc}; "
            "pass --state-dir"
        ) from exc
    if not os.access(state_dir, os.W_OK | os.X_OK):
        raise errors.UsageError(
            f"heal needs a writable state directory for its lock and backups; {state_dir} is "
            "not writable: pass --state-dir"
        )


def start_proxies(
    config: DaemonConfig, environ: Mapping[str, str], *, fleet: bool
) -> list[dict[str, str]]:
    """The proxy each target is reached through, for the start event (best effort: a desired
    state that does not load yet names no URL; the cycles report it). Proxy credentials are
    masked; the choice is the client's own (``transport.proxy_for``, the process environment)."""
    urls: dict[str | None, str] = {}
    try:
        if fleet:
            loaded = load_fleet(config.desired, environ=environ)
            urls = {n: e.url for n, e in loaded.endpoints.items()}
        else:
            url = config.target.url or environ.get("CPA_URL")
            if not url:
                url = planning.load(config.desired, environ).target_url
            if url:
                urls = {None: url}
    except errors.ReconcilerError:
        return []
    out: list[dict[str, str]] = []
    for name, url in urls.items():
        origin = planning.canonical_url(url)
        choice = proxy_for(origin)
        if choice is None:
            continue
        entry = {"url": origin, "proxy": choice.shown, "from": choice.variable}
        out.append({"target": name, **entry} if name is not None else entry)
    return out


def _shut_down(
    config: DaemonConfig,
    reconciler: Reconciler | FleetReconciler,
    scheduler: BackgroundScheduler,
    health: HealthServer | None,
    webhook: Webhook | None,
) -> tuple[bool, bool]:
    """Stop scheduling, let the running cycle finish (bounded), close the rest.
    Returns (a cycle was running, it was abandoned)."""
    running = reconciler.busy
    scheduler.shutdown(wait=False)
    idle = reconciler.quiesce(config.shutdown_timeout)
    if health is not None:
        health.stop()
    if webhook is not None:
        webhook.close(timeout=2.0)
    return running, not idle


def _scheduler(
    config: DaemonConfig, reconciler: Reconciler | FleetReconciler
) -> BackgroundScheduler:
    # APScheduler logs "skipped: maximum number of running instances reached" as a warning on
    # every overlap; that is the design here (one cycle at a time), not a problem to print.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        reconciler.tick,
        IntervalTrigger(
            seconds=config.interval, jitter=config.interval * config.jitter, timezone=UTC
        ),
        id="reconcile",
        name="reconcile",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )

    def overlapped(event: JobExecutionEvent) -> None:
        if event.job_id == "reconcile":  # the quota job's overlaps are not cycles
            reconciler.overlapped()

    scheduler.add_listener(overlapped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    return scheduler


def _credentials(
    config: DaemonConfig,
    reconciler: Reconciler,
    metrics: Metrics,
    events: EventSink,
    scheduler: BackgroundScheduler,
    stop: threading.Event,
) -> QuotaJob | None:
    """Credential health from every cycle's listing; with ``--quota-interval`` a second job,
    never overlapping itself, independent of the config cycle, that reads quotas."""
    watch = CredentialWatch(
        CredentialMetrics(metrics.registry), events.emit, warn=config.quota_warn
    )
    reconciler.on_listing = watch.observe_listing
    if not config.quota_interval:
        return None
    settings = QuotaSettings(
        interval=config.quota_interval,
        endpoints=dict(config.quota_endpoints),
        concurrency=config.quota_concurrency,
        warn=config.quota_warn,
    )
    job = QuotaJob(
        watch,
        settings,
        reconciler.quota_client,
        events.emit,
        stop,
        on_refused=reconciler.quota_refused,
    )
    scheduler.add_job(
        job.run,
        IntervalTrigger(seconds=config.quota_interval, timezone=UTC),
        id="quota",
        name="quota",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    return job


def _health(
    config: DaemonConfig, reconciler: list[Reconciler | FleetReconciler], metrics: Metrics
) -> HealthServer | None:
    """The health server, bound but not serving yet (``reconciler`` is filled in later)."""
    if not config.listen:
        return None
    host, port = parse_listen(config.listen)

    def readiness() -> tuple[bool, dict[str, Any]]:
        return reconciler[0].readiness() if reconciler else (False, {"reason": "starting"})

    return HealthServer(host, port, Endpoints(readiness, metrics.exposition, CONTENT_TYPE_LATEST))


def _webhook(config: DaemonConfig, metrics: Metrics, sinks: list[EventSink]) -> Webhook | None:
    if not config.webhook_url:
        return None

    def report(result: str, reason: str) -> None:
        metrics.webhook.labels(result=result).inc()
        if result == "failed" and sinks:
            sinks[0].emit("webhook.failed", reason=reason)

    return Webhook(config.webhook_url, config.webhook_secret, report=report)
