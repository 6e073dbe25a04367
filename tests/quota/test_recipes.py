"""The quota recipes, driven with canned answers (pure: no server).

Every URL each recipe can call, under every kind of answer, is listed in ``RECIPE_URLS`` and
none is forbidden (a codex reset-credit consume, xAI's paid chat completion); ``--quota-endpoint``
rebasing keeps path and query; the failure mapping follows quota-and-oauth.md section 3.
"""

from __future__ import annotations

import itertools
import json

import pytest
from fake_provider import payloads

from reconciler.quota import recipes
from reconciler.quota.recipes import Answer, Call, CpaFailure, Credential, Reading

NOW = 1_800_000_000.0
KINDS = {
    "ok-empty": Answer(200, '{"groups": [], "models": {}}'),
    "shape": Answer(200, '{"x": 1}'),
    "html": Answer(200, "<html></html>"),
    "401": Answer(401, "{}"),
    "403": Answer(403, '{"reason": "SUSPENDED"}'),
    "404": Answer(404, "{}"),
    "429": Answer(429, "{}"),
    "500": Answer(500, "{}"),
    "502": CpaFailure(502, "request failed"),
    "400": CpaFailure(400, "bad"),
}
#: every provider's realistic answer, so that each recipe also goes down its success path
KINDS.update({key: Answer(200, json.dumps(value)) for key, value in payloads(NOW).items()})


def _cred(provider: str) -> Credential:
    return Credential(
        name=f"{provider}.json",
        provider=provider,
        auth_index="0123456789abcdef",
        account_id="acct",
        project_id="proj",
        account="a@b.c (proj)",
    )


def drive(
    provider: str, answers: list[Answer | CpaFailure], endpoints=None
) -> tuple[list[Call], Reading]:
    steps = recipes.recipe(_cred(provider), NOW, endpoints)
    calls: list[Call] = []
    feed = iter(answers)
    try:
        call = next(steps)
        while True:
            calls.append(call)
            call = steps.send(next(feed, KINDS["shape"]))
    except StopIteration as done:
        return calls, done.value


@pytest.mark.parametrize("provider", recipes.PROVIDERS)
def test_every_url_a_recipe_can_call_is_listed_and_none_is_forbidden(provider: str) -> None:
    seen: set[str] = set()
    for first, second in itertools.product(KINDS.values(), repeat=2):
        calls, _ = drive(provider, [first, second] + [first] * 6)
        seen |= {call.url for call in calls}
        for call in calls:
            assert recipes.TOKEN not in call.url and recipes.TOKEN not in (call.data or "")
            assert call.headers.get("Authorization") == f"Bearer {recipes.TOKEN}"
    assert seen == set(recipes.RECIPE_URLS[provider])
    for url in seen:
        assert not any(p.search(url) for p in recipes.FORBIDDEN), url


def test_the_forbidden_list_bites() -> None:
    for url in (
        "https://chatgpt.com/backend-api/wham/rate-limit-reset-credits/consume",
        "https://api.x.ai/v1/chat/completions",
        "https://api.x.ai/v1/me",
    ):
        assert any(p.search(url) for p in recipes.FORBIDDEN), url


def test_quota_endpoint_replaces_scheme_host_port_of_every_url() -> None:
    base = "http://127.0.0.1:9000"
    calls, _ = drive("antigravity", [KINDS["404"]] * 6, {"antigravity": base})
    assert [c.url for c in calls] == [base + "/v1internal:retrieveUserQuotaSummary"] * 3 + [
        base + "/v1internal:fetchAvailableModels"
    ] * 3
    calls, _ = drive("kiro", [KINDS["shape"]], {"kiro": base + "/gw/"})
    assert calls[0].url == (
        base
        + "/gw/getUsageLimits?isEmailRequired=true&origin=AI_EDITOR&resourceType=AGENTIC_REQUEST"
    )
    assert recipes.rebase(recipes.CODEX_USAGE, base) == base + "/backend-api/wham/usage"


@pytest.mark.parametrize(
    ("kind", "provider", "cls"),
    [
        ("401", "codex", "auth_invalid"),
        ("403", "codex", "auth_invalid"),
        ("403", "kiro", "suspended"),
        ("429", "claude", "rate_limited"),
        ("500", "kimi", "upstream_error"),
        ("404", "github-copilot", "upstream_error"),
        ("502", "codex", "cpa_error"),
        ("400", "xai", "cpa_error"),
        ("shape", "codex", "schema_error"),
        ("html", "claude", "schema_error"),
    ],
)
def test_failure_classes(kind: str, provider: str, cls: str) -> None:
    _, reading = drive(provider, [KINDS[kind]])
    assert reading.failure is not None and reading.failure.cls == cls


def test_unknown_provider_is_unsupported_without_a_call() -> None:
    calls, reading = drive("vertex", [])
    assert calls == [] and reading.failure and reading.failure.cls == "unsupported"


def test_antigravity_stops_on_401_but_moves_on_after_403_and_502() -> None:
    calls, reading = drive("antigravity", [KINDS["401"]])
    assert len(calls) == 1 and reading.failure and reading.failure.cls == "auth_invalid"
    calls, reading = drive("antigravity", [KINDS["502"], KINDS["403"]] + [KINDS["500"]] * 4)
    assert len(calls) == 6
    assert reading.failure and (reading.failure.cls, reading.failure.status) == (
        "auth_invalid",
        403,
    )


def test_codex_without_durations_and_limit_reached() -> None:
    data = {
        "rate_limit": {
            "allowed": False,
            "limit_reached": True,
            "primary_window": {"reset_after_seconds": 100},
            "secondary_window": {"used_percent": 5, "reset_at": 1_800_000_500_000},
        }
    }
    reading = recipes.parse_codex(data, NOW)
    assert [(w.id, w.used_percent, w.resets_at) for w in reading.windows] == [
        ("five-hour", 100.0, NOW + 100),
        ("weekly", 5.0, 1_800_000_500.0),  # milliseconds read as such
    ]


def test_codex_monthly_window_and_additional_limits() -> None:
    window = {"used_percent": 50, "limit_window_seconds": 30 * 86400, "reset_at": NOW + 10}
    data = {
        "rate_limit": {"primary_window": window},
        "additional_rate_limits": [
            {"limit_name": "GPT-5 Pro", "rate_limit": {"primary_window": window}}
        ],
    }
    ids = [w.id for w in recipes.parse_codex(data, NOW).windows]
    assert ids == ["monthly", "gpt-5-pro-monthly"]


def test_error_details_mask_what_looks_secret() -> None:
    answer = Answer(
        401, '{"error": {"message": "bad token: Bearer abc.def-123 for access_token=xyz"}}'
    )
    failure = recipes.classify(answer)
    assert failure is not None
    assert "abc.def-123" not in failure.detail and "xyz" not in failure.detail
    assert failure.detail.startswith("bad ") and "***" in failure.detail
