"""The values CPA v7.2.140 uses when a config key is absent, where they are not Go's zero value.

Pure data. A key missing from the live config.yaml has the value listed here, else the zero
value of its type (false, 0, "", empty list or mapping). Both the diff (a missing live key
equals a desired default) and prune (a live key equal to its default is not removed) use this:
the server appends these keys on any per-field write, and they must never read as drift.
Sources: GET /config of a real v7.2.140 (fixtures/GET-config.json), the keys it appended after
PUT /debug (fixtures/GET-config.yaml-after-PUT-debug.yaml), management-api.md section 4.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.model import Path

NON_ZERO_DEFAULTS: dict[Path, Any] = {
    ("ws-auth",): True,
    ("error-logs-max-files",): 10,
    ("redis-usage-queue-retention-seconds",): 60,
    ("pprof", "addr"): "127.0.0.1:8316",
    ("plugins", "dir"): "plugins",
    ("routing", "strategy"): "round-robin",
    ("routing", "session-affinity-ttl"): "1h",
    ("video-result-auth-cache-ttl",): "3h",
    ("auth-dir",): "~/.cli-proxy-api",
    ("antigravity-signature-cache-enabled",): True,
    (
        "remote-management",
        "panel-github-repository",
    ): "https://github.com/router-for-me/Cli-Proxy-API-Management-Center",
    ("credential-concurrency", "cpa-heartbeat-timeout"): "3s",
    ("credential-concurrency", "cpa-cancel-bound"): "5s",
    ("credential-concurrency", "reclaim-grace"): "5s",
    ("credential-concurrency", "cleanup-interval"): "5s",
    ("credential-concurrency", "release-flush-interval"): "250ms",
    ("credential-concurrency", "release-max-backoff"): "2s",
    ("credential-concurrency", "busy-retry-min"): "250ms",
    ("credential-concurrency", "busy-retry-max"): "1s",
    ("credential-concurrency", "max-limit"): 1000000,
    ("credential-in-flight", "snapshot-interval"): "2s",
    ("credential-in-flight", "stale-after"): "10s",
    ("credential-in-flight", "max-part-bytes"): 262144,
    ("credential-in-flight", "max-part-count"): 64,
    ("credential-in-flight", "max-revision-bytes"): 16777216,
    ("credential-in-flight", "max-aggregate-groups"): 100000,
    ("credential-in-flight", "max-details"): 10000,
    ("credential-in-flight", "max-string-bytes"): 256,
    ("credential-in-flight", "staging-retention"): "1m",
}

# Keys read only when CPA starts: a change is applied but takes effect after a restart.
RESTART_KEYS: frozenset[str] = frozenset({"host", "port", "tls", "commercial-mode", "auth-dir"})

# Keys prune never removes: CPA needs them to start and to stay manageable.
PRUNE_EXEMPT: frozenset[str] = frozenset({"host", "port", "auth-dir", "remote-management"})

# Lists compared as sets (order and duplicates carry no meaning).
SET_LIKE_KEYS: frozenset[str] = frozenset(
    {"api-keys", "excluded-models", "store-sources", "sensitive-words"}
)

# Per-field endpoints add `auth-index` to list entries; it is runtime data, never config.
COMPUTED_KEYS: frozenset[str] = frozenset({"auth-index"})

_NO_DEFAULT = object()


def default_for(path: Path) -> Any:
    """The default at ``path``, or a private sentinel when the zero value applies."""
    return NON_ZERO_DEFAULTS.get(path, _NO_DEFAULT)


def has_default(path: Path) -> bool:
    return path in NON_ZERO_DEFAULTS


def defaults_under(prefix: Path) -> dict[Path, Any]:
    """Every listed default below ``prefix``."""
    n = len(prefix)
    return {p: v for p, v in NON_ZERO_DEFAULTS.items() if p[:n] == prefix and len(p) > n}
