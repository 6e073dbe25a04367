"""Per-provider quota recipes: what to ask the provider through ``api-call`` and how to read
the answer. Pure: no I/O, no clock (``now`` is passed in).

A recipe is a generator: it yields the ``Call`` to make, receives the ``Answer`` (what the
upstream said, through CPA) or a ``CpaFailure`` (``api-call`` itself did not answer 200), and
returns a ``Reading``. The reader drives it; tests drive it with canned answers. Each recipe
follows what CPA's web UI (CPAMC v1.22.2) and ZeroLimit send (quota-and-oauth.md section 2),
except that **nothing is ever called that changes the account or spends tokens**: no codex
reset-credit "consume", no xAI paid fallback (a real chat completion). ``RECIPE_URLS`` lists
every URL each recipe can call; a test checks it against ``FORBIDDEN``.

``$TOKEN$`` only ever appears in a header value (CPA replaces it there and nowhere else).

Windows: ``used_percent`` is 0-100 (percent **used**), ``resets_at`` Unix seconds. Failure
classes (``CLASSES``): ``auth_invalid`` (upstream 401/403), ``suspended`` (kiro 403),
``rate_limited`` (429), ``upstream_error`` (other non-2xx), ``cpa_error`` (``api-call`` itself
not 200; 502 = upstream unreachable or over CPA's 60 s), ``schema_error`` (2xx, not the expected
shape), ``unsupported`` (no recipe for the provider, or what it needs is not in the listing).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

TOKEN = "$TOKEN$"
CLASSES = (
    "auth_invalid",
    "suspended",
    "rate_limited",
    "upstream_error",
    "cpa_error",
    "schema_error",
    "unsupported",
)
#: URLs no recipe may ever call: they change the account or spend tokens.
FORBIDDEN = (
    re.compile(r"/rate-limit-reset-credits/consume"),
    re.compile(r"^https?://api\.x\.ai/"),
    re.compile(r"/chat/completions"),
)

_CODEX_UA = "codex_cli_rs/0.76.0 (Debian 13.0.0; x86_64) WindowsTerminal"
_ANTIGRAVITY_UA = "antigravity/cli/1.0.13 (aidev_client; os_type=darwin; arch=arm64)"
_ANTIGRAVITY_OLD_UA = "antigravity/1.11.5 windows/amd64"
_KIRO_UA = "aws-sdk-js/3.0.0 KiroIDE-0.1.0 os/windows lang/js md/nodejs/18.0.0"
_XAI_UA = "grok-pager/0.2.91 grok-shell/0.2.91 (macos; aarch64)"

CODEX_USAGE = "https://chatgpt.com/backend-api/wham/usage"
CLAUDE_USAGE = "https://api.anthropic.com/api/oauth/usage"
ANTIGRAVITY_HOSTS = (
    "https://daily-cloudcode-pa.googleapis.com",
    "https://daily-cloudcode-pa.sandbox.googleapis.com",
    "https://cloudcode-pa.googleapis.com",
)
ANTIGRAVITY_SUMMARY = "/v1internal:retrieveUserQuotaSummary"
ANTIGRAVITY_MODELS = "/v1internal:fetchAvailableModels"
GEMINI_CLI_QUOTA = "https://cloudcode-pa.googleapis.com/v1internal:retrieveUserQuota"
KIMI_USAGE = "https://api.kimi.com/coding/v1/usages"
XAI_CREDITS = "https://cli-chat-proxy.grok.com/v1/billing?format=credits"
XAI_BILLING = "https://cli-chat-proxy.grok.com/v1/billing"
KIRO_USAGE = (
    "https://codewhisperer.us-east-1.amazonaws.com/getUsageLimits"
    "?isEmailRequired=true&origin=AI_EDITOR&resourceType=AGENTIC_REQUEST"
)
COPILOT_USER = "https://api.github.com/copilot_internal/user"

#: Every URL each recipe can call (before ``--quota-endpoint`` rebasing).
RECIPE_URLS: dict[str, tuple[str, ...]] = {
    "codex": (CODEX_USAGE,),
    "claude": (CLAUDE_USAGE,),
    "antigravity": tuple(h + ANTIGRAVITY_SUMMARY for h in ANTIGRAVITY_HOSTS)
    + tuple(h + ANTIGRAVITY_MODELS for h in ANTIGRAVITY_HOSTS),
    "gemini-cli": (GEMINI_CLI_QUOTA,),
    "kimi": (KIMI_USAGE,),
    "xai": (XAI_CREDITS, XAI_BILLING),
    "kiro": (KIRO_USAGE,),
    "github-copilot": (COPILOT_USER,),
}
PROVIDERS = tuple(RECIPE_URLS)
_ALIASES = {
    "x-ai": "xai",
    "grok": "xai",
    "anthropic": "claude",
    "copilot": "github-copilot",
    "github": "github-copilot",
    "gemini": "gemini-cli",
}
_DETAIL_CHARS = 160


# ---------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Credential:
    """What a recipe needs to know about one credential, all from the listing."""

    name: str
    provider: str
    auth_index: str
    account_id: str | None = None  # codex id_token.chatgpt_account_id
    plan: str | None = None  # codex id_token.plan_type
    project_id: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class Call:
    """One ``api-call``: CPA sends this upstream with the credential's token in ``$TOKEN$``."""

    method: str
    url: str
    headers: Mapping[str, str]
    data: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the upstream answered, as ``api-call`` relays it."""

    status: int
    body: str
    headers: Mapping[str, list[str]] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class CpaFailure:
    """``api-call`` itself did not answer 200 (502: the upstream unreachable or over 60 s)."""

    status: int | None
    detail: str


@dataclass(frozen=True)
class Window:
    """One quota window: ``used_percent`` 0-100, ``resets_at`` Unix seconds."""

    id: str
    label: str
    used_percent: float | None
    resets_at: float | None = None


@dataclass(frozen=True)
class Failure:
    """Why a quota could not be read."""

    cls: str
    detail: str
    status: int | None = None


@dataclass(frozen=True)
class Reading:
    """The quota of one credential: its windows and plan, or why it could not be read."""

    windows: tuple[Window, ...] = ()
    plan: str | None = None
    failure: Failure | None = None


Recipe = Generator[Call, Answer | CpaFailure, Reading]


# ---------------------------------------------------------------------------------------------
# Dispatch


def normalise_provider(value: str | None) -> str:
    """CPAMC's ``resolveAuthProvider``: lower case, ``_`` to ``-``, a few aliases."""
    text = (value or "").strip().lower().replace("_", "-")
    return _ALIASES.get(text, text)


def supported(provider: str) -> bool:
    return normalise_provider(provider) in RECIPE_URLS


def recipe(cred: Credential, now: float, endpoints: Mapping[str, str] | None = None) -> Recipe:
    """The recipe for ``cred``; ``endpoints`` maps a provider to a base URL that replaces the
    scheme, host and port of every URL of that provider (``--quota-endpoint``)."""
    provider = normalise_provider(cred.provider)
    base = (endpoints or {}).get(provider)
    make = _RECIPES.get(provider)
    if make is None:
        return _unsupported(f"no quota recipe for provider {provider or '(none)'}")
    steps: Recipe = make(cred, now, lambda url: rebase(url, base) if base else url)
    return steps


def rebase(url: str, base: str) -> str:
    """``url`` with the scheme, host and port of ``base``; path and query kept (a path in
    ``base`` is put in front of the path)."""
    parts, new = urlsplit(url), urlsplit(base)
    path = new.path.rstrip("/") + parts.path
    return urlunsplit((new.scheme, new.netloc, path, parts.query, ""))


def check_endpoint(provider: str, base: str) -> str | None:
    """Why ``PROVIDER=BASE_URL`` cannot be used, or None."""
    if normalise_provider(provider) not in RECIPE_URLS:
        return f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{base!r} is not an http(s) URL with a host"
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"{base!r} may only have a scheme, host, port and path"
    return None


def _unsupported(detail: str) -> Recipe:
    return (yield from _done(Reading(failure=Failure("unsupported", detail))))


def _done(reading: Reading) -> Recipe:
    if False:  # pragma: no cover - makes this a generator
        yield Call("GET", "", {})
    return reading


# ---------------------------------------------------------------------------------------------
# Failure mapping (quota-and-oauth.md section 3)


def classify(answer: Answer, provider: str = "") -> Failure | None:
    """The failure class of a non-2xx upstream answer, or None for 2xx."""
    if 200 <= answer.status < 300:
        return None
    detail = error_detail(answer)
    if answer.status == 403 and provider == "kiro":
        return Failure("suspended", detail or "account suspended", answer.status)
    if answer.status in (401, 403):
        return Failure("auth_invalid", detail, answer.status)
    if answer.status == 429:
        return Failure("rate_limited", detail, answer.status)
    return Failure("upstream_error", detail, answer.status)


def cpa_failure(failure: CpaFailure) -> Failure:
    return Failure("cpa_error", failure.detail, failure.status)


def schema_failure(what: str) -> Failure:
    return Failure("schema_error", f"2xx answer without {what}")


def error_detail(answer: Answer) -> str:
    """A short message from an upstream error body (``error.message``, ``error``, ``message``,
    ``reason``, else the text), bounded, control characters escaped, bearer values and JWTs
    masked: an upstream may echo the request."""
    data = answer.json()
    text = ""
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            text = err["message"]
        elif isinstance(err, str):
            text = err
        elif isinstance(data.get("message"), str):
            text = data["message"]
        reason = data.get("reason")
        if isinstance(reason, str) and reason:
            text = f"{reason}: {text}" if text else reason
    elif answer.body.lstrip().startswith("<"):
        text = "an HTML page"
    else:
        text = answer.body
    return safe_text(text)


_SECRETISH = (
    re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"),
    re.compile(
        r"(?i)\b((?:access|refresh|id|session)?_?token|api_?key|cookie|secret)([\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"
    ),
    re.compile(r"\beyJ[\w-]{6,}\.[\w-]+\.?[\w-]*"),
    re.compile(r"\b(?:sk|rk|gho|ghu|ghp|xai|ya29)[-_.][\w.-]{8,}"),
)


def _mask(match: re.Match[str]) -> str:
    if match.lastindex == 2:
        return match.group(1) + match.group(2) + "***"
    if match.lastindex == 1:
        return match.group(1) + " ***"
    return "***"


def safe_text(text: str) -> str:
    """``text`` fit for any output: secret-looking values masked, one bounded line."""
    for pattern in _SECRETISH:
        text = pattern.sub(_mask, text)
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text.strip())
    return text[: _DETAIL_CHARS - 1] + "…" if len(text) > _DETAIL_CHARS else text


# ---------------------------------------------------------------------------------------------
# Value helpers


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().rstrip("%")
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return number / 100 if value.strip().endswith("%") else number
    return None


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None


def instant(value: Any) -> float | None:
    """An ISO-8601 time, Unix seconds or Unix milliseconds (below 1e11: seconds), as seconds."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        return float(value) / 1000 if value >= 1e11 else float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return instant(float(text))
        text = text.replace("Z", "+00:00").replace("z", "+00:00")
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # nanoseconds: Python takes microseconds
        try:
            when = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return when.timestamp()
    return None


def _clamp(percent: float | None) -> float | None:
    if percent is None:
        return None
    return round(min(max(percent, 0.0), 100.0), 2)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "window"


def _json_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    headers.update(extra or {})
    return headers


# ---------------------------------------------------------------------------------------------
# Codex (section 2.1)

_FIVE_HOURS, _WEEK = 18_000, 604_800


def _codex(cred: Credential, now: float, url: Any) -> Recipe:
    headers = _json_headers({"User-Agent": _CODEX_UA})
    if cred.account_id:
        headers["Chatgpt-Account-Id"] = cred.account_id
    answer = yield Call("GET", url(CODEX_USAGE), headers)
    if isinstance(answer, CpaFailure):
        return Reading(plan=cred.plan, failure=cpa_failure(answer))
    failure = classify(answer, "codex")
    if failure is not None:
        return Reading(plan=cred.plan, failure=failure)
    return parse_codex(answer.json(), now, cred.plan)


def parse_codex(data: Any, now: float, plan: str | None = None) -> Reading:
    if not isinstance(data, dict):
        return Reading(plan=plan, failure=schema_failure("a JSON object"))
    windows: list[Window] = []
    limits = [("", _first(data, "rate_limit", "rateLimit"))]
    limits.append(("code-review-", _first(data, "code_review_rate_limit", "codeReviewRateLimit")))
    extra = _first(data, "additional_rate_limits", "additionalRateLimits")
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            name = _first(item, "limit_name", "limitName", "metered_feature") or "extra"
            limits.append((f"{_slug(str(name))}-", _first(item, "rate_limit", "rateLimit")))
    for prefix, limit in limits:
        if isinstance(limit, dict):
            windows.extend(_codex_windows(prefix, limit, now))
    plan_type = _first(data, "plan_type", "planType")
    shown_plan = str(plan_type).lower() if isinstance(plan_type, str) and plan_type else plan
    if not windows and not isinstance(_first(data, "rate_limit", "rateLimit"), dict):
        return Reading(plan=shown_plan, failure=schema_failure("rate_limit windows"))
    return Reading(windows=tuple(windows), plan=shown_plan)


def _codex_windows(prefix: str, limit: Mapping[str, Any], now: float) -> list[Window]:
    reached = limit.get("limit_reached") is True or limit.get("allowed") is False
    found: list[Window] = []
    for slot, fallback in (("primary_window", "five-hour"), ("secondary_window", "weekly")):
        window = _first(limit, slot, slot.replace("_w", "W"))
        if not isinstance(window, dict):
            continue
        seconds = _num(_first(window, "limit_window_seconds", "limitWindowSeconds"))
        kind = fallback
        if seconds == _FIVE_HOURS:
            kind = "five-hour"
        elif seconds == _WEEK:
            kind = "weekly"
        elif seconds is not None and 28 * 86_400 <= seconds <= 31 * 86_400:
            kind = "monthly"
        reset = instant(_first(window, "reset_at", "resetAt"))
        after = _num(_first(window, "reset_after_seconds", "resetAfterSeconds"))
        if reset is None and after is not None:
            reset = now + after
        used = _num(_first(window, "used_percent", "usedPercent"))
        if used is None and reached and reset is not None:
            used = 100.0
        label = (prefix.replace("-", " ") + kind.replace("-", " ")).strip()
        found.append(Window(f"{prefix}{kind}", label, _clamp(used), reset))
    return found


# ---------------------------------------------------------------------------------------------
# Claude (section 2.2)

_CLAUDE_WINDOWS = (
    ("five_hour", "five-hour"),
    ("seven_day", "seven-day"),
    ("seven_day_oauth_apps", "seven-day-oauth-apps"),
    ("seven_day_opus", "seven-day-opus"),
    ("seven_day_sonnet", "seven-day-sonnet"),
    ("seven_day_cowork", "seven-day-cowork"),
    ("seven_day_omelette", "seven-day-omelette"),
    ("iguana_necktie", "seven-day-fable"),
)


def _claude(cred: Credential, now: float, url: Any) -> Recipe:
    headers = _json_headers({"anthropic-beta": "oauth-2025-04-20", "Accept": "application/json"})
    answer = yield Call("GET", url(CLAUDE_USAGE), headers)
    if isinstance(answer, CpaFailure):
        return Reading(failure=cpa_failure(answer))
    failure = classify(answer, "claude")
    if failure is not None:
        return Reading(failure=failure)
    return parse_claude(answer.json())


def parse_claude(data: Any) -> Reading:
    if not isinstance(data, dict):
        return Reading(failure=schema_failure("a JSON object"))
    if data.get("type") == "error":
        err = data.get("error")
        message = err.get("message") if isinstance(err, dict) else None
        return Reading(failure=Failure("upstream_error", safe_text(str(message or "error"))))
    windows: list[Window] = []
    for key, window_id in _CLAUDE_WINDOWS:
        item = data.get(key)
        if isinstance(item, dict) and _num(item.get("utilization")) is not None:
            used = _clamp(_num(item.get("utilization")))
            windows.append(
                Window(window_id, window_id.replace("-", " "), used, instant(item.get("resets_at")))
            )
    extra = data.get("extra_usage")
    if isinstance(extra, dict) and extra.get("is_enabled") and _num(extra.get("utilization")):
        windows.append(Window("extra-usage", "extra usage", _clamp(_num(extra["utilization"]))))
    if not windows and not any(key in data for key, _ in _CLAUDE_WINDOWS):
        return Reading(failure=schema_failure("usage windows"))
    return Reading(windows=tuple(windows))


# ---------------------------------------------------------------------------------------------
# Antigravity (section 2.3): retrieveUserQuotaSummary over three hosts, then
# fetchAvailableModels over the same hosts; stop at the first answer that parses.


def _antigravity(cred: Credential, now: float, url: Any) -> Recipe:
    headers = _json_headers({"User-Agent": _ANTIGRAVITY_UA})
    old_headers = _json_headers({"User-Agent": _ANTIGRAVITY_OLD_UA})
    attempts: list[tuple[str, str, Mapping[str, str], Any]] = []
    if cred.project_id:
        body = json.dumps({"project": cred.project_id})
        attempts += [
            (h + ANTIGRAVITY_SUMMARY, body, headers, parse_antigravity_summary)
            for h in ANTIGRAVITY_HOSTS
        ]
    attempts += [
        (h + ANTIGRAVITY_MODELS, "{}", old_headers, parse_antigravity_models)
        for h in ANTIGRAVITY_HOSTS
    ]
    priority: Failure | None = None
    last: Failure | None = None
    empty: Reading | None = None
    for target, body, head, parse in attempts:
        answer = yield Call("POST", url(target), head, body)
        if isinstance(answer, CpaFailure):
            last = cpa_failure(answer)
            if answer.status != 502:
                break  # CPA itself refused: no other host changes that
            continue
        failure = classify(answer, "antigravity")
        if failure is not None:
            if answer.status in (403, 404) and priority is None:
                priority = failure
            last = failure
            if answer.status in (401, 429):
                break  # the same token, the same limit on every host
            continue
        reading: Reading = parse(answer.json(), now)
        if reading.windows:
            return reading
        if reading.failure is None and empty is None:
            empty = reading
        elif reading.failure is not None:
            last = reading.failure
    if empty is not None:
        return empty  # a host answered with no groups: nothing to report, not an error
    return Reading(failure=priority or last or schema_failure("quota groups"))


def parse_antigravity_summary(data: Any, now: float) -> Reading:
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        return Reading(failure=schema_failure("groups"))
    windows: list[Window] = []
    for group in data["groups"]:
        if not isinstance(group, dict):
            continue
        group_name = str(_first(group, "displayName", "display_name") or "group")
        buckets = group.get("buckets")
        for bucket in buckets if isinstance(buckets, list) else []:
            if not isinstance(bucket, dict):
                continue
            left = _num(_first(bucket, "remainingFraction", "remaining_fraction"))
            if left is None:
                continue
            name = str(_first(bucket, "window", "displayName", "bucketId", "bucket_id") or "quota")
            window_id = f"{_slug(group_name)}/{_slug(name)}"
            reset = instant(_first(bucket, "resetTime", "reset_time"))
            windows.append(
                Window(window_id, f"{group_name} {name}", _clamp((1 - left) * 100), reset)
            )
    return Reading(windows=tuple(windows))


def parse_antigravity_models(data: Any, now: float) -> Reading:
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return Reading(failure=schema_failure("models"))
    windows: list[Window] = []
    for model_id, model in sorted(data["models"].items()):
        if not isinstance(model, dict) or model.get("isInternal") is True:
            continue
        if model_id.startswith("chat_") or (
            model_id.startswith("tab_") and "flash_lite_preview" in model_id
        ):
            continue
        info = model.get("quotaInfo")
        if not isinstance(info, dict):
            continue
        reset = instant(info.get("resetTime"))
        left = _num(info.get("remainingFraction"))
        if left is None:
            left = 0.0 if reset is not None else 1.0
        label = str(model.get("displayName") or model_id)
        windows.append(Window(_slug(model_id), label, _clamp((1 - left) * 100), reset))
    return Reading(windows=tuple(windows))


# ---------------------------------------------------------------------------------------------
# Gemini CLI (section 2.4; CPA <= 7.2.19)


def gemini_project(cred: Credential) -> str | None:
    if cred.project_id:
        return cred.project_id.split(",")[0].strip() or None
    match = re.findall(r"\(([^()]*)\)", cred.account or "")
    return match[-1].split(",")[0].strip() if match and match[-1].strip() else None


def _gemini_cli(cred: Credential, now: float, url: Any) -> Recipe:
    project = gemini_project(cred)
    if project is None:
        return Reading(failure=Failure("unsupported", "no project id in the listing"))
    body = json.dumps({"project": project})
    answer = yield Call("POST", url(GEMINI_CLI_QUOTA), _json_headers(), body)
    if isinstance(answer, CpaFailure):
        return Reading(failure=cpa_failure(answer))
    failure = classify(answer, "gemini-cli")
    if failure is not None:
        return Reading(failure=failure)
    return parse_gemini_cli(answer.json())


def parse_gemini_cli(data: Any) -> Reading:
    if not isinstance(data, dict) or not isinstance(data.get("buckets"), list):
        return Reading(failure=schema_failure("buckets"))
    windows: dict[str, Window] = {}
    for bucket in data["buckets"]:
        if not isinstance(bucket, dict):
            continue
        model = str(_first(bucket, "modelId", "model_id") or "").removesuffix("_vertex")
        if not model or model.startswith("gemini-2.0-flash"):
            continue
        reset = instant(_first(bucket, "resetTime", "reset_time"))
        left = _num(_first(bucket, "remainingFraction", "remaining_fraction"))
        amount = _num(_first(bucket, "remainingAmount", "remaining_amount"))
        if left is None:
            left = 0.0 if (amount is not None and amount <= 0) or reset is not None else None
        if left is None:
            continue
        kind = _first(bucket, "tokenType", "token_type")
        window_id = _slug(model) + (f"/{_slug(str(kind))}" if kind else "")
        windows.setdefault(window_id, Window(window_id, model, _clamp((1 - left) * 100), reset))
    return Reading(windows=tuple(windows.values()))


# ---------------------------------------------------------------------------------------------
# Kimi (section 2.5)


def _kimi(cred: Credential, now: float, url: Any) -> Recipe:
    answer = yield Call("GET", url(KIMI_USAGE), {"Authorization": f"Bearer {TOKEN}"})
    if isinstance(answer, CpaFailure):
        return Reading(failure=cpa_failure(answer))
    failure = classify(answer, "kimi")
    if failure is not None:
        return Reading(failure=failure)
    return parse_kimi(answer.json(), now)


def _kimi_window(window_id: str, label: str, item: Mapping[str, Any], now: float) -> Window | None:
    limit = _num(item.get("limit"))
    used = _num(item.get("used"))
    remaining = _num(item.get("remaining"))
    if used is None and limit is not None and remaining is not None:
        used = limit - remaining
    if not limit or used is None:
        return None
    reset = instant(_first(item, "resetAt", "reset_at", "resetTime", "reset_time"))
    after = _num(_first(item, "resetIn", "reset_in", "ttl"))
    if reset is None and after is not None:
        reset = now + after
    return Window(window_id, label, _clamp(used / limit * 100), reset)


def parse_kimi(data: Any, now: float) -> Reading:
    if not isinstance(data, dict) or not (
        isinstance(data.get("usage"), dict) or isinstance(data.get("limits"), list)
    ):
        return Reading(failure=schema_failure("usage or limits"))
    windows: list[Window] = []
    usage = data.get("usage")
    if isinstance(usage, dict):
        found = _kimi_window("weekly", str(usage.get("title") or "weekly"), usage, now)
        if found:
            windows.append(found)
    limits = data.get("limits")
    for i, item in enumerate(limits if isinstance(limits, list) else []):
        if not isinstance(item, dict):
            continue
        nested = item.get("detail")
        detail: Mapping[str, Any] = nested if isinstance(nested, dict) else item
        name = str(_first(item, "name", "title") or f"limit-{i}")
        found = _kimi_window(_slug(name), name, detail, now)
        if found:
            windows.append(found)
    return Reading(windows=tuple(windows))


# ---------------------------------------------------------------------------------------------
# xAI (section 2.6): the free billing endpoints only, never the paid fallback


def _xai(cred: Credential, now: float, url: Any) -> Recipe:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "x-xai-token-auth": "xai-grok-cli",
        "x-grok-client-version": "0.2.91",
        "accept": "*/*",
        "user-agent": _XAI_UA,
    }
    windows: list[Window] = []
    for target, window_id in ((XAI_CREDITS, "weekly"), (XAI_BILLING, "monthly")):
        answer = yield Call("GET", url(target), headers)
        if isinstance(answer, CpaFailure):
            return Reading(windows=tuple(windows), failure=cpa_failure(answer))
        failure = classify(answer, "xai")
        if failure is not None:
            return Reading(windows=tuple(windows), failure=failure)
        reading = parse_xai(answer.json(), window_id)
        if reading.failure is not None:
            return Reading(windows=tuple(windows), failure=reading.failure)
        windows.extend(reading.windows)
    return Reading(windows=tuple(windows))


def parse_xai(data: Any, window_id: str) -> Reading:
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        return Reading(failure=schema_failure("config"))
    used = _num(config.get("creditUsagePercent"))
    if used is None:
        limit = config.get("monthlyLimit")
        spent = config.get("used")
        total = _num(limit.get("val")) if isinstance(limit, dict) else None
        amount = _num(spent.get("val")) if isinstance(spent, dict) else None
        if total and amount is not None:
            used = amount / total * 100
    period = config.get("currentPeriod")
    end = period.get("end") if isinstance(period, dict) else None
    reset = instant(end if end is not None else config.get("billingPeriodEnd"))
    if used is None:
        return Reading(failure=schema_failure("a usage percent"))
    return Reading(windows=(Window(window_id, window_id, _clamp(used), reset),))


# ---------------------------------------------------------------------------------------------
# Kiro and GitHub Copilot (section 2.7; CLIProxyAPIPlus)


def _kiro(cred: Credential, now: float, url: Any) -> Recipe:
    headers = _json_headers({"User-Agent": _KIRO_UA, "x-amz-user-agent": "aws-sdk-js/3.0.0"})
    answer = yield Call("GET", url(KIRO_USAGE), headers)
    if isinstance(answer, CpaFailure):
        return Reading(failure=cpa_failure(answer))
    failure = classify(answer, "kiro")
    if failure is not None:
        return Reading(failure=failure)
    return parse_kiro(answer.json())


def parse_kiro(data: Any) -> Reading:
    if not isinstance(data, dict) or not isinstance(data.get("usageBreakdownList"), list):
        return Reading(failure=schema_failure("usageBreakdownList"))
    info = data.get("subscriptionInfo")
    plan = info.get("subscriptionTitle") if isinstance(info, dict) else None
    default_reset = instant(data.get("nextDateReset"))
    windows: list[Window] = []
    for item in data["usageBreakdownList"]:
        if not isinstance(item, dict):
            continue
        name = str(_first(item, "resourceType", "displayName") or "usage")
        label = str(item.get("displayName") or name)
        reset = instant(item.get("nextDateReset")) or default_reset
        found = _ratio(item)
        if found is not None:
            windows.append(Window(_slug(name), label, found, reset))
        trial = item.get("freeTrialInfo")
        if isinstance(trial, dict) and trial.get("freeTrialStatus") == "ACTIVE":
            used = _ratio(trial)
            if used is not None:
                expiry = instant(trial.get("freeTrialExpiry"))
                windows.append(
                    Window(_slug(name) + "-free-trial", label + " (trial)", used, expiry)
                )
    return Reading(windows=tuple(windows), plan=str(plan) if plan else None)


def _ratio(item: Mapping[str, Any]) -> float | None:
    used = _num(_first(item, "currentUsageWithPrecision", "currentUsage"))
    limit = _num(_first(item, "usageLimitWithPrecision", "usageLimit"))
    if used is None or not limit:
        return None
    return _clamp(used / limit * 100)


def _copilot(cred: Credential, now: float, url: Any) -> Recipe:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    answer = yield Call("GET", url(COPILOT_USER), headers)
    if isinstance(answer, CpaFailure):
        return Reading(failure=cpa_failure(answer))
    failure = classify(answer, "github-copilot")
    if failure is not None:
        return Reading(failure=failure)
    return parse_copilot(answer.json())


def parse_copilot(data: Any) -> Reading:
    if not isinstance(data, dict):
        return Reading(failure=schema_failure("a JSON object"))
    plan = _first(data, "copilot_plan", "access_type_sku")
    reset = instant(
        _first(data, "quota_reset_date_utc", "quota_reset_date", "limited_user_reset_date")
    )
    windows: list[Window] = []
    snapshots = data.get("quota_snapshots")
    if isinstance(snapshots, dict):
        for key in ("chat", "completions", "premium_interactions"):
            snap = snapshots.get(key)
            if not isinstance(snap, dict) or snap.get("unlimited") is True:
                continue
            left = _num(snap.get("percent_remaining"))
            if left is None:
                remaining, total = _num(snap.get("remaining")), _num(snap.get("entitlement"))
                left = remaining / total * 100 if remaining is not None and total else None
            if left is not None:
                windows.append(Window(_slug(key), key.replace("_", " "), _clamp(100 - left), reset))
    elif isinstance(data.get("limited_user_quotas"), dict) and isinstance(
        data.get("monthly_quotas"), dict
    ):
        for key, total in data["monthly_quotas"].items():
            remaining = _num(data["limited_user_quotas"].get(key))
            size = _num(total)
            if remaining is not None and size:
                used = _clamp((size - remaining) / size * 100)
                windows.append(Window(_slug(key), str(key), used, reset))
    else:
        return Reading(failure=schema_failure("quota_snapshots"))
    return Reading(windows=tuple(windows), plan=str(plan) if plan else None)


_RECIPES: dict[str, Any] = {
    "codex": _codex,
    "claude": _claude,
    "antigravity": _antigravity,
    "gemini-cli": _gemini_cli,
    "kimi": _kimi,
    "xai": _xai,
    "kiro": _kiro,
    "github-copilot": _copilot,
}
