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

A fleet daemon (``Metrics(registry, targets=(...))``) puts a ``target`` label (the target's
name from the fleet file, never its URL or key) on the per-server families: cycles, drift
items, missing credentials, applies, failures, last success, auth backoff and server info.
The cycle's duration, in-progress, desired-state validity and webhook series stay unlabelled
(one fleet cycle, one file, one webhook), and two fleet-only gauges say what the fleet plan
requires: ``reconciler_fleet_moves`` and ``reconciler_fleet_duplicates``, with
``reconciler_moves_total{result}`` (done | failed). A single-target daemon's series are
unchanged (no ``target`` label), so its dashboards and alerts keep working.

prometheus-client's ``*_created`` series (one per counter and histogram, the time it was made)
are turned off: they say nothing here and double the exposition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

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
MOVE_RESULTS = ("done", "failed")
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "TargetMetrics"]


class Metrics:
    """Every metric of the daemon, pre-labelled so each series exists from the start.

    ``targets``: the fleet's target names; the per-server families then carry a ``target``
    label (``None``: a single-target daemon, no such label)."""

    def __init__(
        self, registry: CollectorRegistry, *, targets: Sequence[str] | None = None
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide; never wanted
        self.registry = registry
        self.fleet = targets is not None
        per: list[str] = ["target"] if self.fleet else []
        self.cycles = Counter(
            "reconciler_cycles", "Reconcile cycles by result", [*per, "result"], registry=registry
        )
        self.drift_items = Gauge(
            "reconciler_drift_items",
            "Drift items found by the last cycle",
            [*per, "kind"],
            registry=registry,
        )
        self.credentials_missing = Gauge(
            "reconciler_credentials_missing",
            "Declared auth files missing on the server with no source to re-create them",
            per,
            registry=registry,
        )
        self.applies = Counter(
            "reconciler_applies", "Heal applies by result", [*per, "result"], registry=registry
        )
        self.failures = Counter(
            "reconciler_failures", "Failures by stage", [*per, "stage"], registry=registry
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
            per,
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
            per,
            registry=registry,
        )
        self.server = Info("reconciler_cpa_server", "The CPA server build", per, registry=registry)
        self.webhook = Counter(
            "reconciler_webhook_deliveries",
            "Webhook deliveries by result",
            ["result"],
            registry=registry,
        )
        if self.fleet:
            self.moves = Gauge(
                "reconciler_fleet_moves",
                "Moves between servers the fleet plan requires now",
                registry=registry,
            )
            self.duplicates = Gauge(
                "reconciler_fleet_duplicates",
                "Credentials live on two or more servers of the fleet",
                registry=registry,
            )
            self.moves_done = Counter(
                "reconciler_moves",
                "Moves carried out by heal, by result",
                ["result"],
                registry=registry,
            )
            for result in MOVE_RESULTS:
                self.moves_done.labels(result=result)
        self.targets: dict[str | None, TargetMetrics] = {}
        for name in targets if targets is not None else (None,):
            self.targets[name] = TargetMetrics(self, name)
        for result in WEBHOOK_RESULTS:
            self.webhook.labels(result=result)

    def target(self, name: str | None = None) -> TargetMetrics:
        """The per-server series of ``name`` (``None``: the single target); a fleet's target
        gets its series the first time it is asked for."""
        if name not in self.targets:
            if not self.fleet or name is None:
                raise KeyError(name)
            self.targets[name] = TargetMetrics(self, name)
        return self.targets[name]

    def drop_target(self, name: str) -> None:
        """A target left the fleet file: its series go (a gone server is not a stale one)."""
        if self.targets.pop(name, None) is None:
            return
        for family, values in (
            (self.cycles, CYCLE_RESULTS),
            (self.drift_items, KINDS),
            (self.applies, APPLY_RESULTS),
            (self.failures, FAILURE_STAGES),
        ):
            for value in values:
                with contextlib.suppress(KeyError):
                    family.remove(name, value)
        for single in (self.credentials_missing, self.last_success, self.auth_backoff, self.server):
            with contextlib.suppress(KeyError):
                single.remove(name)

    # The single-target daemon's shortcuts (the only target).

    def set_drift(self, counts: Mapping[str, int]) -> None:
        self.target().set_drift(counts)

    def set_server(self, version: str | None, commit: str | None, build_date: str | None) -> None:
        self.target().set_server(version, commit, build_date)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class TargetMetrics:
    """One server's series: the families with its ``target`` label bound (none for a single
    target)."""

    def __init__(self, metrics: Metrics, name: str | None) -> None:
        self.metrics = metrics
        self._label: dict[str, str] = {} if name is None else {"target": name}
        for result in CYCLE_RESULTS:
            self._child(metrics.cycles, result=result)
        for kind in KINDS:
            self._child(metrics.drift_items, kind=kind)
        for result in APPLY_RESULTS:
            self._child(metrics.applies, result=result)
        for stage in FAILURE_STAGES:
            self._child(metrics.failures, stage=stage)
        if name is not None:  # the unlabelled ones exist from the start on their own
            for family in (metrics.credentials_missing, metrics.last_success, metrics.auth_backoff):
                self._child(family)

    def _child(self, family: Any, **labels: str) -> Any:
        both = {**self._label, **labels}
        return family.labels(**both) if both else family

    def cycle(self, result: str) -> None:
        self._child(self.metrics.cycles, result=result).inc()

    def failure(self, stage: str) -> None:
        self._child(self.metrics.failures, stage=stage).inc()

    def apply(self, result: str) -> None:
        self._child(self.metrics.applies, result=result).inc()

    def set_auth_backoff(self, held: bool) -> None:
        self._child(self.metrics.auth_backoff).set(1 if held else 0)

    def set_last_success(self, unix_time: float) -> None:
        self._child(self.metrics.last_success).set(unix_time)

    def set_missing(self, count: int) -> None:
        self._child(self.metrics.credentials_missing).set(count)

    def set_drift(self, counts: Mapping[str, int]) -> None:
        for kind in KINDS:
            self._child(self.metrics.drift_items, kind=kind).set(counts.get(kind, 0))

    def set_server(self, version: str | None, commit: str | None, build_date: str | None) -> None:
        self._child(self.metrics.server).info(
            {"version": version or "", "commit": commit or "", "build_date": build_date or ""}
        )
