"""The daemon's Prometheus metrics, registered in an injected ``CollectorRegistry``.

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` units) and the anchors
(Argo's ``argocd_app_reconcile`` histogram, Flux's ``gotk_reconcile_duration_seconds``)::

    reconciler_cycles_total{result}                 success | error | skipped
    reconciler_drift_items{kind}                    config | auth-file (gauge, this cycle)
    reconciler_credentials_missing                  declared auth files gone, with no source
    reconciler_applies_total{result}                success | failure | blocked | skipped
    reconciler_failures_total{stage}                desired-state | target | auth | plan | apply
    reconciler_cycle_duration_seconds               histogram
    reconciler_cycle_in_progress                    1 while a cycle runs
    reconciler_last_success_timestamp_seconds       unix time of the last successful cycle
    reconciler_desired_state_valid                  0 while the desired-state file is broken
    reconciler_auth_backoff                         1 while no authenticated request may be sent
    reconciler_cpa_server_info{version,commit,build_date}
    reconciler_webhook_deliveries_total{result}     sent | failed | dropped | rate_limited

prometheus-client's ``*_created`` series (one per counter and histogram, the time it was made)
are turned off: they say nothing here and double the exposition.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from reconciler.daemon.drift import KINDS

CYCLE_RESULTS = ("success", "error", "skipped")
APPLY_RESULTS = ("success", "failure", "blocked", "skipped")
FAILURE_STAGES = ("desired-state", "target", "auth", "plan", "apply")
WEBHOOK_RESULTS = ("sent", "failed", "dropped", "rate_limited")
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """Every metric of the daemon, pre-labelled so each series exists from the start."""

    def __init__(self, registry: CollectorRegistry) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide; never wanted
        self.registry = registry
        self.cycles = Counter(
            "reconciler_cycles", "Reconcile cycles by result", ["result"], registry=registry
        )
        self.drift_items = Gauge(
            "reconciler_drift_items",
            "Drift items found by the last cycle",
            ["kind"],
            registry=registry,
        )
        self.credentials_missing = Gauge(
            "reconciler_credentials_missing",
            "Declared auth files missing on the server with no source to re-create them",
            registry=registry,
        )
        self.applies = Counter(
            "reconciler_applies", "Heal applies by result", ["result"], registry=registry
        )
        self.failures = Counter(
            "reconciler_failures", "Failures by stage", ["stage"], registry=registry
        )
        self.duration = Histogram(
            "reconciler_cycle_duration_seconds",
            "Duration of reconcile cycles",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "reconciler_cycle_in_progress", "1 while a cycle runs", registry=registry
        )
        self.last_success = Gauge(
            "reconciler_last_success_timestamp_seconds",
            "Unix time of the last successful cycle",
            registry=registry,
        )
        self.desired_valid = Gauge(
            "reconciler_desired_state_valid",
            "1 when the desired-state file loaded on the last cycle, 0 when it is broken",
            registry=registry,
        )
        self.auth_backoff = Gauge(
            "reconciler_auth_backoff",
            "1 while the daemon sends no authenticated request after a 401/403",
            registry=registry,
        )
        self.server = Info("reconciler_cpa_server", "The CPA server build", registry=registry)
        self.webhook = Counter(
            "reconciler_webhook_deliveries",
            "Webhook deliveries by result",
            ["result"],
            registry=registry,
        )
        self._prime()

    def _prime(self) -> None:
        for result in CYCLE_RESULTS:
            self.cycles.labels(result=result)
        for kind in KINDS:
            self.drift_items.labels(kind=kind)
        for result in APPLY_RESULTS:
            self.applies.labels(result=result)
        for stage in FAILURE_STAGES:
            self.failures.labels(stage=stage)
        for result in WEBHOOK_RESULTS:
            self.webhook.labels(result=result)

    def set_drift(self, counts: Mapping[str, int]) -> None:
        for kind in KINDS:
            self.drift_items.labels(kind=kind).set(counts.get(kind, 0))

    def set_server(self, version: str | None, commit: str | None, build_date: str | None) -> None:
        self.server.info(
            {"version": version or "", "commit": commit or "", "build_date": build_date or ""}
        )

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
