"""A typo or a wrongly typed value under ``config:`` is refused by validate, plan and apply,
before any request reaches CPA; ``config-policy.allow-unknown-keys`` lets a newer CPA's key
through to the server."""

from __future__ import annotations

import pytest
from e2e_helpers import Cli, Project, management

from reconciler.emulator import Emulator

HEAD = "target:\n  management-key: ${env:CPA_MANAGEMENT_KEY}\nconfig:\n  debug: false\n"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("reqest-retry: 2", "config.reqest-retry: unknown key (did you mean 'request-retry'?)"),
        ("request-retry: three", "config.request-retry: expected an integer"),
        ('ws-auth: "false"', "config.ws-auth: expected true or false"),
    ],
)
@pytest.mark.parametrize(
    "argv",
    [("validate",), ("plan",), ("apply", "--auto-approve")],
    ids=["validate", "plan", "apply"],
)
def test_refused_by_every_command_before_any_request(
    target_env: Emulator, cli: Cli, project: Project, line: str, says: str, argv: tuple[str, ...]
) -> None:
    before = target_env.config_yaml()
    desired = project.write(HEAD + f"  {line}\n")
    result = cli(argv[0], desired, *argv[1:])
    assert result.code == 1, result.text
    assert f"{desired}:5:" in result.err
    assert says in result.err
    assert "Run apply again" not in result.text
    assert management(target_env) == []  # not one request, not even a read
    assert target_env.config_yaml() == before


def test_allow_unknown_keys_lets_a_newer_cpas_key_through(
    target_env: Emulator, cli: Cli, project: Project
) -> None:
    desired = project.write(
        HEAD
        + "  reqest-retry: 2\n"
        + "  request-retry: 4\n"
        + "config-policy:\n  allow-unknown-keys: [reqest-retry]\n"
    )
    assert cli("validate", desired).code == 0
    assert management(target_env) == []
    plan = cli("plan", desired, "--detailed-exitcode")
    assert plan.code == 2, plan.text
    assert management(target_env) != []  # the log sees a plan's reads
    assert "reqest-retry" in plan.out
    applied = cli("apply", desired, "--auto-approve")
    assert applied.code == 0, applied.text
    config = target_env.config_yaml()
    assert "reqest-retry: 2" in config
    assert "request-retry: 4" in config  # the real key is still owned
    assert cli("plan", desired, "--detailed-exitcode").code == 0
