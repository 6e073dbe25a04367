"""The constants of a CPA v7.2.140 server: build info, default config, server-filled defaults.

Owns every literal taken from the recording: the minimal config the emulator starts from,
the runtime JSON template of ``GET /config`` (fixtures/GET-config.json), the defaults a
per-field save appends to config.yaml, the scalar setting endpoints, and the legacy keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VERSION = "v7.2.140"
COMMIT = "a7e3596b7"
BUILD_DATE = "2026-11-24T06:51:07Z"
SUPPORT_PLUGIN = "1"
MANAGEMENT_PREFIX = "/v0/management"

CORS_HEADERS = (
    ("Access-Control-Allow-Headers", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Expose-Headers",
        "X-CPA-TRACE-ID, X-CPA-VERSION, X-CPA-COMMIT, X-CPA-BUILD-DATE, X-CPA-SUPPORT-PLUGIN, "
        "X-CPA-HOME-VERSION, X-CPA-HOME-BUILD-DATE, X-SERVER-VERSION, X-SERVER-BUILD-DATE, "
        "Location, Retry-After, X-Request-Id, OpenAI-Request-Id",
    ),
)

BANNER_ENDPOINTS = ("POST /v1/chat/completions", "POST /v1/completions", "GET /v1/models")

MINIMAL_CONFIG = """\
# Minimal loopback-only config for local verification of a management-API client.
host: {host}
port: {port}
tls:
  enable: false
remote-management:
  allow-remote: {allow_remote}
  secret-key: {secret_key}
  disable-control-panel: true
  disable-auto-update-panel: true
auth-dir: {auth_dir}
api-keys:
  - "test-api-key"
debug: false
logging-to-file: false
usage-statistics-enabled: false
proxy-url: ""
request-retry: 0
plugins:
  enabled: false
"""

_RUNTIME_TEMPLATE_JSON = """{"proxy-url":"","disable-image-generation":false,
"force-model-prefix":false,"request-log":false,"claude-code":{"disable-cloaking-model-list":false},
"api-keys":null,"passthrough-headers":false,"streaming":{},
"tls":{"enable":false,"cert":"","key":""},
"credential-concurrency":{"lifecycle-config-revision":0,"observation-barrier-revision":0,
"cpa-heartbeat-timeout":3000000000,"cpa-cancel-bound":5000000000,"reclaim-grace":5000000000,
"cleanup-interval":5000000000,"release-flush-interval":250000000,"release-max-backoff":2000000000,
"busy-retry-min":250000000,"busy-retry-max":1000000000,"max-limit":1000000},
"credential-in-flight":{"snapshot-interval":"2s","stale-after":"10s","max-part-bytes":262144,
"max-part-count":64,"max-revision-bytes":16777216,"max-aggregate-groups":100000,
"max-details":10000,"max-string-bytes":256,"staging-retention":"1m"},
"plugins":{"enabled":false,"dir":"plugins","configs":{}},"debug":false,
"pprof":{"enable":false,"addr":"127.0.0.1:8316"},"commercial-mode":false,"logging-to-file":false,
"logs-max-total-size-mb":0,"error-logs-max-files":10,"usage-statistics-enabled":false,
"redis-usage-queue-retention-seconds":60,"disable-cooling":false,"save-cooldown-status":false,
"transient-error-cooldown-seconds":0,"auth-auto-refresh-workers":0,"request-retry":0,
"max-retry-credentials":0,"max-retry-interval":0,
"quota-exceeded":{"switch-project":false,"switch-preview-model":false,"antigravity-credits":false},
"routing":{},"ws-auth":true,"antigravity":{},"gemini-api-key":null,"interactions-api-key":null,
"codex-api-key":null,"xai-api-key":null,"xai":{"inject-x-search":false},
"codex":{"identity-confuse":false,"disable-codex-cloaking":false,
"stream-bootstrap-buffering":false,"optimize-multi-agent-v2":false,
"live-media-relay":{"enabled":false,"max-sessions":0,"disable-private-remote-ips":false,
"public-ip":"","udp-port-min":0,"udp-port-max":0,"ice-servers":null}},
"codex-header-defaults":{"user-agent":"","beta-features":""},"claude-api-key":null,
"claude-header-defaults":{"user-agent":"","package-version":"","runtime-version":"","os":"",
"arch":"","timeout":"","timezone":""},"disable-claude-cloak-mode":false,
"openai-compatibility":null,"vertex-api-key":null,
"payload":{"default":null,"default-raw":null,"override":null,"override-raw":null,"filter":null}}"""

# GET /config in struct field order; values are the defaults of a config that sets nothing.
RUNTIME_TEMPLATE: dict[str, Any] = json.loads(_RUNTIME_TEMPLATE_JSON)

# Keys GET /config shows, beyond the template, when the file sets them (omitempty in Go).
RUNTIME_OPTIONAL_KEYS = (
    "nonstream-keepalive-interval",
    "gpt-image-2-base-model",
    "video-result-auth-cache-ttl",
    "antigravity-signature-cache-enabled",
    "antigravity-signature-bypass-strict",
    "oauth-excluded-models",
    "oauth-model-alias",
    "oauth-request-scoped-errors",
)

# credential-concurrency holds time.Duration values: nanoseconds in JSON, "3s" in YAML.
DURATION_NS_KEYS = frozenset(
    {
        "cpa-heartbeat-timeout",
        "cpa-cancel-bound",
        "reclaim-grace",
        "cleanup-interval",
        "release-flush-interval",
        "release-max-backoff",
        "busy-retry-min",
        "busy-retry-max",
    }
)

# What a per-field save appends when missing (order as recorded after PUT /debug).
APPENDED_DEFAULTS: tuple[tuple[str, Any], ...] = (
    (
        "credential-concurrency",
        {
            "cpa-heartbeat-timeout": "3s",
            "cpa-cancel-bound": "5s",
            "reclaim-grace": "5s",
            "cleanup-interval": "5s",
            "release-flush-interval": "250ms",
            "release-max-backoff": "2s",
            "busy-retry-min": "250ms",
            "busy-retry-max": "1s",
            "max-limit": 1000000,
        },
    ),
    (
        "credential-in-flight",
        {
            "snapshot-interval": "2s",
            "stale-after": "10s",
            "max-part-bytes": 262144,
            "max-part-count": 64,
            "max-revision-bytes": 16777216,
            "max-aggregate-groups": 100000,
            "max-details": 10000,
            "max-string-bytes": 256,
            "staging-retention": "1m",
        },
    ),
    ("redis-usage-queue-retention-seconds", 60),
    ("ws-auth", True),
)

# Keys removed in v7: a per-field save deletes them from the file.
REMOVED_TOP_KEYS = (
    "auth",
    "ampcode",
    "amp-upstream-url",
    "amp-upstream-api-key",
    "amp-restrict-management-to-localhost",
    "amp-model-mappings",
    "generative-language-api-key",
)

# Legacy kebab keys of auth files and their canonical names (section 5.2).
LEGACY_AUTH_KEYS = {
    "api-key": "api_key",
    "base-url": "base_url",
    "proxy-url": "proxy_url",
    "excluded-models": "excluded_models",
    "model-aliases": "model_aliases",
    "request-retry": "request_retry",
    "disable-cooling": "disable_cooling",
    "fingerprint-profile": "fingerprint_profile",
    "request-scoped-errors": "request_scoped_errors",
    "tool-prefix-disabled": "tool_prefix_disabled",
}


@dataclass(frozen=True)
class ScalarSetting:
    """One scalar endpoint of section 2.2."""

    path: tuple[str, ...]
    response_key: str
    kind: type
    default: Any
    deletable: bool = False


SCALAR_SETTINGS: dict[str, ScalarSetting] = {
    "/debug": ScalarSetting(("debug",), "debug", bool, False),
    "/logging-to-file": ScalarSetting(("logging-to-file",), "logging-to-file", bool, False),
    "/logs-max-total-size-mb": ScalarSetting(
        ("logs-max-total-size-mb",), "logs-max-total-size-mb", int, 0
    ),
    "/error-logs-max-files": ScalarSetting(
        ("error-logs-max-files",), "error-logs-max-files", int, 10
    ),
    "/usage-statistics-enabled": ScalarSetting(
        ("usage-statistics-enabled",), "usage-statistics-enabled", bool, False
    ),
    "/proxy-url": ScalarSetting(("proxy-url",), "proxy-url", str, "", deletable=True),
    "/quota-exceeded/switch-project": ScalarSetting(
        ("quota-exceeded", "switch-project"), "switch-project", bool, False
    ),
    "/quota-exceeded/switch-preview-model": ScalarSetting(
        ("quota-exceeded", "switch-preview-model"), "switch-preview-model", bool, False
    ),
    "/request-log": ScalarSetting(("request-log",), "request-log", bool, False),
    "/ws-auth": ScalarSetting(("ws-auth",), "ws-auth", bool, True),
    "/request-retry": ScalarSetting(("request-retry",), "request-retry", int, 0),
    "/max-retry-credentials": ScalarSetting(
        ("max-retry-credentials",), "max-retry-credentials", int, 0
    ),
    "/max-retry-interval": ScalarSetting(("max-retry-interval",), "max-retry-interval", int, 0),
    "/force-model-prefix": ScalarSetting(
        ("force-model-prefix",), "force-model-prefix", bool, False
    ),
    "/routing/strategy": ScalarSetting(("routing", "strategy"), "strategy", str, "round-robin"),
}

ROUTING_STRATEGIES = {
    "": "round-robin",
    "rr": "round-robin",
    "roundrobin": "round-robin",
    "round-robin": "round-robin",
    "wrr": "weighted-round-robin",
    "weighted-round-robin": "weighted-round-robin",
    "ff": "fill-first",
    "fillfirst": "fill-first",
    "fill-first": "fill-first",
}
