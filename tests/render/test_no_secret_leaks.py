"""No secret value in any output: text, colour text, Markdown, plan JSON, plan file.

Plans are made by ``make_plan`` from states with distinctive planted secrets (every one contains
``PLANTED``): the management secret-key and its live bcrypt hash, client api-keys, a provider
api-key inside a list of mappings, header values, a proxy-url with ``user:pass@``, values listed
in ``secret_paths`` (one at a list index that differs between live and desired, one inside a
set-like list), a legacy key that prune removes, auth-file fields, and the target URL.
"""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt
import pytest

from reconciler.core.model import (
    AuthFilesPolicy,
    DesiredAuthFile,
    DesiredState,
    LiveAuthFile,
    LiveState,
)
from reconciler.core.plan import Plan, PlanOptions, make_plan
from reconciler.output import plan_json, render
from reconciler.pipeline import planfile

PLANT = "PLANTED"
LIVE_HASH = bcrypt.hashpw(b"old-PLANTED", bcrypt.gensalt(4)).decode()
TARGET = "http://admin:TARGET-PLANTED@127.0.0.1:8317"

DESIRED_CONFIG = {
    "debug": True,
    "remote-management": {"secret-key": "SECRETKEY-PLANTED-1"},
    "api-keys": ["APIKEY-PLANTED-2a", "SHARED-PLANTED-2c"],
    "proxy-url": "socks5://user:PROXYPASS-PLANTED-5@proxy:1080",
    "gpt-image-2-base-model": "ENVVALUE-PLANTED-6",
    "codex-api-key": [
        {
            "api-key": "PROVIDER-PLANTED-3a",
            "base-url": "https://codex.example",
            "headers": {"X-Auth": "HEADER-PLANTED-4a"},
        },
        {
            "api-key": "PROVIDER-PLANTED-3b",
            "base-url": "https://b.example",
            "prefix": "PFX-PLANTED-7",
        },
    ],
    "openai-compatibility": [
        {
            "name": "openrouter",
            "base-url": "https://openrouter.example",
            "api-key-entries": [{"api-key": "OR-PLANTED-8", "proxy-url": "http://u:ORP-PLANTED@p"}],
            "headers": {"Authorization": "Bearer HDR-PLANTED-9"},
        }
    ],
    "antigravity": {"sensitive-words": ["plain-word", "WORD-PLANTED-11"]},
    "custom-upstream": "https://user:URL-PLANTED-12@up.example",
}
LIVE_CONFIG = {
    "debug": False,
    "remote-management": {"secret-key": LIVE_HASH},
    "api-keys": ["APIKEY-PLANTED-2b", "SHARED-PLANTED-2c"],
    "proxy-url": "socks5://proxy:1080",
    "gpt-image-2-base-model": "OLDENV-PLANTED-6",
    "codex-api-key": [
        {
            "api-key": "PROVIDER-PLANTED-3b",
            "base-url": "https://b.example",
            "prefix": "PFX-PLANTED-7",
        }
    ],
    "antigravity": {"sensitive-words": ["plain-word", "OLDWORD-PLANTED-11"]},
    "amp-upstream-api-key": "AMP-PLANTED-10",
    "claude-header-defaults": {"x-api-key": "CHD-PLANTED-13"},
}
SECRET_PATHS = frozenset(
    {
        ("gpt-image-2-base-model",),
        ("codex-api-key", 1, "prefix"),
        ("antigravity", "sensitive-words", 1),
    }
)


def _plan() -> tuple[Plan, DesiredState]:
    desired = DesiredState(
        config=DESIRED_CONFIG,
        config_prune=True,
        secret_paths=SECRET_PATHS,
        auth_files=(
            DesiredAuthFile(
                "codex-alice.json",
                "alice.json",
                {"type": "codex", "refresh_token": "RT-PLANTED-14"},
                fields={"proxy_url": "http://u:AUTHPROXY-PLANTED-15@h:1", "priority": 2},
            ),
            DesiredAuthFile(
                "claude-bob.json",
                fields={"headers": {"Authorization": "AUTHHDR-PLANTED-16"}, "note": "team b"},
            ),
        ),
        auth_policy=AuthFilesPolicy(prune=True),
    )
    live = LiveState(
        config=LIVE_CONFIG,
        auth_files={
            "claude-bob.json": LiveAuthFile(
                "claude-bob.json",
                content={"headers": {"Authorization": "OLDHDR-PLANTED-17"}, "note": "team a"},
            ),
            "stale.json": LiveAuthFile("stale.json"),
        },
        server_version="7.2.140",
    )
    return make_plan(desired, live, PlanOptions(seed_key=b"seed")), desired


def _outputs(tmp_path: Path) -> dict[str, str]:
    plan, desired = _plan()
    paths = desired.secret_paths
    doc = plan_json.plan_to_json(
        plan,
        secret_paths=paths,
        fingerprint_key=b"fingerprint-key",
        meta={"target": {"url": TARGET, "server_version": "7.2.140"}},
    )
    planfile.write_plan_file(tmp_path / "plan.json", doc)
    return {
        "text": render.render_text(plan, secret_paths=paths, target=TARGET, server_version="7"),
        "color": render.render_text(plan, secret_paths=paths, color=True, target=TARGET),
        "markdown": render.render_markdown(plan, secret_paths=paths, target=TARGET),
        "summary": render.render_summary(plan),
        "json": json.dumps(doc),
        "plan file": (tmp_path / "plan.json").read_text(),
        "read back": repr(planfile.read_plan_file(tmp_path / "plan.json")),
    }


def test_the_plan_really_carries_the_planted_secrets():
    """Guard: the test is meaningful only if the plan holds the secrets in clear."""
    plan, _ = _plan()
    assert PLANT in repr(plan)
    assert LIVE_HASH in repr(plan)
    ops = {(a.op, a.name) for a in plan.actions}
    assert {("create", "codex-alice.json"), ("update", "claude-bob.json")} <= ops
    assert ("delete", "stale.json") in ops


@pytest.mark.parametrize(
    "name", ["text", "color", "markdown", "summary", "json", "plan file", "read back"]
)
def test_no_planted_secret_in_any_output(tmp_path, name):
    """Not one planted secret, nor the live bcrypt hash, in any output."""
    out = _outputs(tmp_path)[name]
    leaked = [line for line in out.splitlines() if PLANT in line or LIVE_HASH in line]
    assert leaked == []


def test_masked_changes_are_still_shown(tmp_path):
    """Masking hides values, not the fact that they change."""
    text = _outputs(tmp_path)["text"]
    assert "      ~ remote-management.secret-key: *** (before) -> *** (after)\n" in text
    assert "      + api-keys[]: ***\n" in text
    assert "      - api-keys[]: ***\n" in text
    assert "      - amp-upstream-api-key: ***\n" in text
    assert "      ~ debug: false -> true\n" in text
    assert "https://codex.example" in text  # the readable parts of a provider entry stay


def test_unchanged_secret_never_appears(tmp_path):
    """The api-key present on both sides (SHARED) gives no line at all."""
    text = _outputs(tmp_path)["text"]
    assert text.count("api-keys[]") == 2  # one removed, one added; nothing for the shared one


def test_secret_paths_with_shifted_list_index(tmp_path):
    """The live list is indexed differently: the before side is masked all the same."""
    doc = json.loads(_outputs(tmp_path)["json"])
    config = doc["resource_changes"][0]["changes"]
    prefixes = [c for c in config if c["path_list"][-1:] == ["prefix"]]
    assert prefixes
    assert all(c.get("before", "***") == "***" and c.get("after", "***") == "***" for c in prefixes)
