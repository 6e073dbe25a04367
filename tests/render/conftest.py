"""Plans shared by the render, plan JSON and plan file tests (built by hand; no I/O).

Every secret planted here contains ``PLANTED``, so a test can assert that the word never
appears in any output.
"""

from __future__ import annotations

import pytest

from reconciler.core.changes import Change
from reconciler.core.plan import Action, Plan
from reconciler.core.safety import Blocker

LIVE_HASH = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

CONFIG_ACTION = Action(
    "config",
    "config.yaml",
    "update",
    "config differs from the desired state",
    changes=(
        Change(("debug",), before=False, after=True),
        Change(("request-retry",), after=3),
        Change(("payload",), before={"default": [{"models": ["gpt-5"], "params": {"t": 0.2}}]}),
        Change(("api-keys",), after="sk-client-PLANTED", element=True),
        Change(("api-keys",), before="sk-old-PLANTED", element=True),
        Change(("remote-management", "secret-key"), before=LIVE_HASH, after="mgmt-PLANTED"),
        Change(("routing", "strategy"), before="round-robin", after="fill-first"),
        Change(("port",), before=8317, after=8318),
    ),
    restart_required=("port",),
)

FULL_PLAN = Plan(
    actions=(
        CONFIG_ACTION,
        Action(
            "auth-file",
            "codex-alice.json",
            "create",
            "missing on the server",
            changes=(Change(("disabled",), after=False), Change(("fields", "priority"), after=5)),
        ),
        Action(
            "auth-file",
            "claude-bob.json",
            "update",
            "policy differs",
            changes=(
                Change(("disabled",), before=True, after=False),
                Change(
                    ("fields", "proxy_url"),
                    before="socks5://u:PLANTED@h:1080",
                    after="socks5://h:1080",
                ),
            ),
        ),
        Action(
            "auth-file", "gemini-x.json", "replace", "source changed since the file was last seeded"
        ),
        Action("auth-file", "old.json", "delete", "not in the desired state (prune)"),
    ),
    blockers=(
        Blocker(
            "replace",
            "re-seeding gemini-x.json from source overwrites the server's current tokens",
            "--allow-replace",
        ),
        Blocker("protected-delete", "auth file old.json matches a protect pattern"),
    ),
    unresolved=("auth file lost.json is missing on the server and has no source",),
)

EMPTY_PLAN = Plan()

UNRESOLVED_ONLY = Plan(unresolved=("auth file lost.json is missing on the server",))


@pytest.fixture
def full_plan() -> Plan:
    """Every op, a secret changed, set elements, a restart, blockers and an unresolved item."""
    return FULL_PLAN


@pytest.fixture
def config_action() -> Action:
    return CONFIG_ACTION


@pytest.fixture
def empty_plan() -> Plan:
    return EMPTY_PLAN


@pytest.fixture
def unresolved_plan() -> Plan:
    return UNRESOLVED_ONLY


@pytest.fixture
def live_hash() -> str:
    """The live bcrypt hash of the secret-key: a secret too, it must never be shown."""
    return LIVE_HASH
