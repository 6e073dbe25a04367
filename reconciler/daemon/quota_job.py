"""Credential health and quota in the daemon: metrics, transition events, the quota job.

``CredentialWatch`` turns what is known about the credentials into Prometheus series (one per
credential: ``name`` = file name, ``provider``; ``window`` for quota) and into events, each once
per transition: ``credential.unhealthy`` / ``credential.recovered``; per window ``quota.low``
(at or above ``warn`` percent), ``quota.exhausted`` (100 %), ``quota.recovered`` (back under
``warn``); ``quota.error`` when a credential's failure class changes. A credential that
disappears from the listing has its series removed (and its remembered state forgotten).

Health comes from the listing the config cycle already reads (``observe_listing``, no extra
request). ``QuotaJob.run`` is the second scheduled job (``--quota-interval``): one
``GET /auth-files`` and the quota reads of ``status --quota`` (``reconciler.quota.reader``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from reconciler import errors
from reconciler.quota import health as health_mod
from reconciler.quota import reader
from reconciler.quota.health import STATES, Health
from reconciler.quota.reader import QuotaRead

Emit = Callable[..., Any]
DEFAULT_WARN = 90.0


class CredentialMetrics:
    """The per-credential series, registered in the daemon's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "reconciler_credential_up",
            "1 when the credential's state is ok",
            ["name", "provider"],
            registry=registry,
        )
        self.state = Gauge(
            "reconciler_credential_state",
            "1 for the credential's current state (ok, disabled, unavailable, error)",
            ["name", "provider", "state"],
            registry=registry,
        )
        self.used = Gauge(
            "reconciler_credential_quota_used_ratio",
            "Quota used in a window, 0..1",
            ["name", "provider", "window"],
            registry=registry,
        )
        self.reset = Gauge(
            "reconciler_credential_quota_reset_timestamp_seconds",
            "Unix time when the quota window resets",
            ["name", "provider", "window"],
            registry=registry,
        )
        self.errors = Counter(
            "reconciler_credential_quota_errors",
            "Failed quota reads by failure class",
            ["name", "provider", "class"],
            registry=registry,
        )
        self.last_success = Gauge(
            "reconciler_quota_last_success_timestamp_seconds",
            "Unix time of the last quota job that ran to the end",
            registry=registry,
        )


@dataclass
class _Known:
    provider: str
    unhealthy: bool
    windows: dict[str, str] = field(default_factory=dict)  # window -> ok | low | exhausted
    failure: str | None = None
    error_classes: set[str] = field(default_factory=set)


class CredentialWatch:
    """Metrics and transition events for every credential seen (thread-safe)."""

    def __init__(self, metrics: CredentialMetrics, emit: Emit, warn: float = DEFAULT_WARN) -> None:
        self.metrics = metrics
        self.emit = emit
        self.warn = warn
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    # -- health ------------------------------------------------------------------------------

    def observe_listing(self, entries: Iterable[Any]) -> None:
        """A ``GET /auth-files`` listing (summaries or full entries): health of every file."""
        self.observe_health(health_mod.health_list(entries, time.time()))

    def observe_health(self, healths: Iterable[Health]) -> None:
        with self._lock:
            seen: set[str] = set()
            for h in healths:
                seen.add(h.name)
                self._health(h)
            for name in [name for name in self._known if name not in seen]:
                self._forget(name)

    def _health(self, h: Health) -> None:
        known = self._known.get(h.name)
        if known is not None and known.provider != h.provider:
            self._forget(h.name)
            known = None
        unhealthy = h.state in health_mod.UNHEALTHY_STATES
        m = self.metrics
        m.up.labels(h.name, h.provider).set(1 if h.state == "ok" else 0)
        for state in STATES:
            m.state.labels(h.name, h.provider, state).set(1 if state == h.state else 0)
        if known is None:
            self._known[h.name] = _Known(h.provider, unhealthy)
            if unhealthy:
                self._credential_event("credential.unhealthy", h)
            return
        if unhealthy != known.unhealthy:
            known.unhealthy = unhealthy
            self._credential_event(
                "credential.unhealthy" if unhealthy else "credential.recovered", h
            )

    def _credential_event(self, event: str, h: Health) -> None:
        self.emit(
            event,
            name=h.name,
            provider=h.provider,
            state=h.state,
            status_message=h.status_message or None,
        )

    def _forget(self, name: str) -> None:
        known = self._known.pop(name)
        m, provider = self.metrics, known.provider
        _remove(m.up, name, provider)
        for state in STATES:
            _remove(m.state, name, provider, state)
        for window in known.windows:
            _remove(m.used, name, provider, window)
            _remove(m.reset, name, provider, window)
        for cls in known.error_classes:
            _remove(m.errors, name, provider, cls)

    # -- quota -------------------------------------------------------------------------------

    def observe_quota(self, read: QuotaRead, healths: Iterable[Health]) -> None:
        with self._lock:
            providers = {h.name: h.provider for h in healths}
            for name, reading in sorted(read.readings.items()):
                known = self._known.get(name)
                if known is None or name not in providers:
                    continue
                self._windows(name, known, reading.windows)
                cls = reading.failure.cls if reading.failure else None
                if cls is not None:
                    self.metrics.errors.labels(name, known.provider, cls).inc()
                    known.error_classes.add(cls)
                if cls != known.failure:
                    fields = {"class": cls, "previous_class": known.failure}
                    self.emit(
                        "quota.error",
                        name=name,
                        provider=known.provider,
                        detail=reading.failure.detail if reading.failure else None,
                        **fields,
                    )
                    known.failure = cls
            self.metrics.last_success.set(time.time())

    def _windows(self, name: str, known: _Known, windows: Iterable[Any]) -> None:
        m, provider = self.metrics, known.provider
        current: dict[str, Any] = {w.id: w for w in windows}
        for gone in [w for w in known.windows if w not in current]:
            _remove(m.used, name, provider, gone)
            _remove(m.reset, name, provider, gone)
            del known.windows[gone]
        for window_id, w in current.items():
            if w.used_percent is not None:
                m.used.labels(name, provider, window_id).set(w.used_percent / 100)
            if w.resets_at is not None:
                m.reset.labels(name, provider, window_id).set(w.resets_at)
            else:
                _remove(m.reset, name, provider, window_id)
            level = self._level(w.used_percent)
            before = known.windows.get(window_id, "ok")
            known.windows[window_id] = level
            if level == before:
                continue
            event = {"low": "quota.low", "exhausted": "quota.exhausted", "ok": "quota.recovered"}
            self.emit(
                event[level],
                name=name,
                provider=provider,
                window=window_id,
                used_percent=w.used_percent,
                resets_at=_when(w.resets_at),
            )

    def _level(self, percent: float | None) -> str:
        if percent is None:
            return "ok"
        if percent >= 100:
            return "exhausted"
        return "low" if percent >= self.warn else "ok"


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclass(frozen=True)
class QuotaSettings:
    """``--quota-interval`` and the flags that go with it."""

    interval: float | None = None  # None: no quota job
    endpoints: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = reader.DEFAULT_CONCURRENCY
    warn: float = DEFAULT_WARN


class QuotaJob:
    """The second scheduled job: health and quota as ``status --quota`` reads them.

    ``client_factory`` gives a ready client for the current target, or None when none may be
    used now (no valid desired state yet, or the config cycle holds authenticated requests
    after a 401/403). A 401/403 during the job is reported to ``on_refused``."""

    def __init__(
        self,
        watch: CredentialWatch,
        settings: QuotaSettings,
        client_factory: Callable[[], Any],
        emit: Emit,
        stop: threading.Event,
        on_refused: Callable[[errors.ApiError], None] | None = None,
    ) -> None:
        self.watch = watch
        self.settings = settings
        self.client_factory = client_factory
        self.emit = emit
        self.stop = stop
        self.on_refused = on_refused
        self._busy = threading.Lock()
        self.runs = 0

    def run(self) -> None:
        """One quota read; never raises, never overlaps itself."""
        if self.stop.is_set() or not self._busy.acquire(blocking=False):
            return
        try:
            client = self.client_factory()
            if client is None:
                return
            with client:
                listing = client.list_auth_files()
                healths = health_mod.health_list(listing, time.time())
                self.watch.observe_health(healths)
                read = reader.read_quotas(
                    client,
                    healths,
                    endpoints=self.settings.endpoints,
                    concurrency=self.settings.concurrency,
                    stop=self.stop,
                )
                # A file deleted after the listing: CPA sent its $TOKEN$ literally and the
                # provider refused it; looked up again, it is gone, not a quota error.
                reader.recheck_gone(client, healths, read)
            self.watch.observe_quota(read, healths)
            self.runs += 1
        except (errors.UnauthorizedError, errors.ForbiddenError) as exc:
            if self.on_refused is not None:
                self.on_refused(exc)
        except errors.ReconcilerError as exc:
            self.emit("reconcile.error", stage="quota", reason=str(exc))
        except Exception as exc:  # a bug of ours: an event, the daemon lives on
            self.emit("reconcile.error", stage="quota", reason=f"internal: {type(exc).__name__}")
        finally:
            self._busy.release()
