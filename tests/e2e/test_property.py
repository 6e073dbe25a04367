"""Property: whatever the desired and the live state, ``apply`` makes the server hold the desired
values (checked by ``server_oracle``, apart from the reconciler's own rules), and then ``plan`` is
empty (must-show 5 of issue 3).

Hypothesis draws a desired state (config scalars, lists and nested maps among real CPA keys,
config prune on or off, ignored paths, auth files with ``disabled`` and policy ``fields``,
auth-file prune on or off) and a live state written out of band (a commented config.yaml,
sometimes with the plaintext key for CPA to re-hash, and auth files with their own policy,
sometimes under legacy kebab names). Then ``apply --auto-approve --allow-mass-delete`` must
exit 0 and ``plan --detailed-exitcode`` 0.
Sometimes a web-UI save that changes nothing (``PUT /debug`` with the current value, which
re-serialises config.yaml and appends CPA's defaults) comes between the two: still no drift.

Decisions recorded here:

* One emulator serves every example: it is reset between examples (auth files removed from
  its directory, the first config.yaml written back, faults, bans and the log cleared).
* Values are the kind an operator writes: strings from a plain alphabet (no YAML 1.1
  booleans or other look-alikes, whose meaning differs between YAML libraries), no negative
  ``request_retry`` and no empty or padded header values (CPA deletes or trims those on a
  PATCH, so such a declaration can never be converged).
* No shrinking: an example costs most of a second, and shrinking a failure would outlast the
  suite's per-test timeout and hide the report. The failing example is printed whole, with a
  ``@reproduce_failure`` blob to replay it (add ``Phase.shrink`` locally to minimise it).
* The autouse environment fixture is function-scoped on purpose: it runs once around all the
  examples, and each example sets its own environment.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import KEY, Result, auth_source, described, dump_yaml, mutating, web_ui_put
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from server_oracle import auth_file_mismatches, config_mismatches

from reconciler import cli
from reconciler.emulator import Emulator

# -- strategies -----------------------------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: not s.isdigit() and s not in {"y", "n"}
)
SMALL = st.integers(min_value=0, max_value=30)

BOOL_KEYS = (
    "debug",
    "logging-to-file",
    "usage-statistics-enabled",
    "force-model-prefix",
    "request-log",
    "passthrough-headers",
    "disable-cooling",
    "save-cooldown-status",
    "ws-auth",
    "commercial-mode",
)
INT_KEYS = (
    "request-retry",
    "max-retry-credentials",
    "max-retry-interval",
    "logs-max-total-size-mb",
    "error-logs-max-files",
    "transient-error-cooldown-seconds",
    "redis-usage-queue-retention-seconds",
)
DURATIONS = ("2s", "2000ms", "10s", "1m", "60s", "1m30s", "90s")


def _provider_entry() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"api-key": WORD.map(lambda w: "sk-" + w)},
        optional={
            "priority": SMALL,
            "weight": st.integers(min_value=0, max_value=100),
            "base-url": st.sampled_from(["https://api.example.com/v1", "http://10.0.0.1:8080"]),
            "excluded-models": st.lists(
                st.sampled_from(["gpt-5", "GPT-5", "gemini-pro", "claude-3*"]), max_size=3
            ),
        },
    )


CONFIG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(BOOL_KEYS, st.booleans()),
    **dict.fromkeys(INT_KEYS, SMALL),
    "proxy-url": st.sampled_from(["", "http://proxy.example.com:3128", "socks5://u:p@h:1080"]),
    "api-keys": st.lists(WORD.map(lambda w: "key-" + w), max_size=4),
    "routing": st.fixed_dictionaries(
        {},
        optional={
            "strategy": st.sampled_from(["round-robin", "rr", "fill-first", "ff", "fillfirst"]),
            "session-affinity": st.booleans(),
        },
    ),
    "quota-exceeded": st.fixed_dictionaries(
        {}, optional={"switch-project": st.booleans(), "switch-preview-model": st.booleans()}
    ),
    "streaming": st.fixed_dictionaries(
        {}, optional={"keepalive-seconds": SMALL, "bootstrap-retries": SMALL}
    ),
    "credential-in-flight": st.fixed_dictionaries(
        {},
        optional={
            "snapshot-interval": st.sampled_from(DURATIONS),
            "stale-after": st.sampled_from(DURATIONS),
            "max-part-count": SMALL,
        },
    ),
    "gemini-api-key": st.lists(_provider_entry(), max_size=2),
    "claude-api-key": st.lists(_provider_entry(), max_size=2),
    "codex-api-key": st.lists(_provider_entry(), max_size=2),
}


# Keys only the live side has: what prune removes (or works around, when ignored).
LIVE_ONLY_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "oauth-excluded-models": st.fixed_dictionaries(
        {}, optional={"codex": st.lists(WORD, max_size=2), "claude": st.lists(WORD, max_size=2)}
    ),
    "payload": st.fixed_dictionaries(
        {"default": st.lists(st.fixed_dictionaries({"params": st.dictionaries(WORD, SMALL)}))}
    ),
}
IGNORABLE = ("debug", "api-keys", "routing.strategy", "oauth-excluded-models.codex", "payload")


@st.composite
def configs(draw: st.DrawFn, live: bool = False) -> dict[str, Any]:
    values = {**CONFIG_VALUES, **(LIVE_ONLY_VALUES if live else {})}
    keys = draw(st.lists(st.sampled_from(sorted(values)), unique=True, max_size=8))
    return {key: draw(values[key]) for key in keys}


NAMES = (
    "codex-ann@example.com.json",
    "claude-ben@example.com.json",
    "gemini-cat@example.com.json",
    "antigravity-dan@example.com.json",
    "codex-eve@example.com.json",
)
NOTE = st.text(alphabet="abc xyz-", max_size=8)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "priority": st.one_of(st.none(), st.integers(min_value=-3, max_value=10)),
        "note": NOTE,
        "weight": st.integers(min_value=0, max_value=100),
        "websockets": st.booleans(),
        "request_retry": st.integers(min_value=0, max_value=5),
        "proxy_url": st.sampled_from(["", "socks5://127.0.0.1:1080", "http://u:p@proxy:3128"]),
        "prefix": WORD,
        "headers": st.dictionaries(st.sampled_from(["X-A", "X-B"]), WORD, max_size=2),
        "headers.X-Team": WORD,
    },
)


LEGACY = {"proxy_url": "proxy-url", "request_retry": "request-retry"}


@st.composite
def desired_files(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    files = []
    for name in names:
        entry: dict[str, Any] = {"name": name, "source": f"auth/{name}"}
        disabled = draw(st.sampled_from([None, True, False]))
        if disabled is not None:
            entry["disabled"] = disabled
        fields = draw(FIELDS)
        if fields:
            entry["fields"] = fields
        files.append(entry)
    return files


@st.composite
def live_files(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    out = {}
    for name in names:
        data = auth_source(name.split("-", 1)[1].removesuffix(".json"), name.split("-")[0])
        if draw(st.booleans()):
            data["disabled"] = True
        fields = draw(FIELDS)
        if draw(st.booleans()):  # older CPA versions and hand edits use the kebab names
            fields = {LEGACY.get(k, k): v for k, v in fields.items()}
        data.update(fields)
        out[name] = data
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "config": draw(configs()),
        "config_prune": draw(st.booleans()),
        "ignore": draw(st.lists(st.sampled_from(IGNORABLE), unique=True, max_size=2)),
        "remote_management": draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "secret-key": st.just("${env:CPA_MANAGEMENT_KEY}"),
                    "allow-remote": st.booleans(),
                    "disable-control-panel": st.booleans(),
                },
            )
        ),
        "files": draw(desired_files()),
        "auth_prune": draw(st.booleans()),
        "max_deletions": draw(st.integers(min_value=0, max_value=5)),
        "live_config": draw(configs(live=True)),
        "live_plaintext_key": draw(st.booleans()),
        "live_files": draw(live_files()),
        "web_ui_save": draw(st.booleans()),
    }


# -- the emulator, shared and reset -------------------------------------------------------


@pytest.fixture(scope="module")
def shared_emu() -> Iterator[tuple[Emulator, str]]:
    with Emulator(management_key=KEY) as emu:
        yield emu, emu.config_yaml()


def _reset(emu: Emulator, first_config: str) -> None:
    for path in emu.auth_dir.iterdir():
        path.unlink()
    emu.set_config_yaml(first_config)
    emu.clear_faults()
    emu.unban()
    emu.reset_requests()


def _write_live(emu: Emulator, first_config: str, scenario: dict[str, Any]) -> None:
    yaml = YAML()
    doc = yaml.load(first_config)
    for key, value in scenario["live_config"].items():
        doc[key] = value
    if scenario["live_plaintext_key"]:
        doc["remote-management"]["secret-key"] = KEY
    out = io.StringIO()
    out.write("# edited by hand on the server\n")
    yaml.dump(doc, out)
    emu.set_config_yaml(out.getvalue())
    for name, data in scenario["live_files"].items():
        emu.write_auth_file(name, data)


def _write_desired(root: Path, scenario: dict[str, Any]) -> Path:
    config = dict(scenario["config"])
    if scenario["remote_management"]:
        config["remote-management"] = scenario["remote_management"]
    for entry in scenario["files"]:
        source = root / entry["source"]
        source.parent.mkdir(parents=True, exist_ok=True)
        name = entry["name"]
        source.write_text(json.dumps(auth_source(name.split("-", 1)[1].removesuffix(".json"))))
    doc = {
        "target": {"management-key": "${env:CPA_MANAGEMENT_KEY}"},
        "config": config,
        "config-policy": {"prune": scenario["config_prune"], "ignore": scenario["ignore"]},
        "auth-files": {
            "prune": scenario["auth_prune"],
            "max-deletions": scenario["max_deletions"],
            "files": scenario["files"],
        },
    }
    path = root / "desired-state.yaml"
    path.write_text(dump_yaml(doc), encoding="utf-8")
    return path


def _run(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def _assert_server_holds(emu: Emulator, scenario: dict[str, Any]) -> None:
    """The server holds the desired values, by rules written apart from the reconciler's."""
    config = dict(scenario["config"])
    if scenario["remote_management"]:
        config["remote-management"] = scenario["remote_management"]
    config_json = httpx.get(
        f"{emu.management_url}/config", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    ).json()
    problems = config_mismatches(
        config_json, emu.config_yaml(), config, ignore=scenario["ignore"], management_key=KEY
    )
    stored = {p.name: emu.read_auth_file(p.name) for p in emu.auth_dir.iterdir()}
    problems += auth_file_mismatches(stored, scenario["files"], prune=scenario["auth_prune"])
    assert problems == [], "\n".join(problems)


def _save_unchanged_in_web_ui(emu: Emulator) -> None:
    current = httpx.get(
        f"{emu.management_url}/debug", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    ).json()["debug"]
    web_ui_put(emu, "debug", current)


# -- the property -------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    print_blob=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_apply_then_plan_is_empty(
    shared_emu: tuple[Emulator, str], scenario: dict[str, Any]
) -> None:
    emu, first_config = shared_emu
    _reset(emu, first_config)
    _write_live(emu, first_config, scenario)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CPA_URL", emu.url)
        mp.setenv("CPA_MANAGEMENT_KEY", KEY)
        desired = str(_write_desired(Path(tmp), scenario))

        applied = _run("apply", desired, "--auto-approve", "--allow-mass-delete")
        assert applied.code == 0, applied.text
        _assert_server_holds(emu, scenario)
        if scenario["web_ui_save"]:
            _save_unchanged_in_web_ui(emu)
        emu.reset_requests()

        again = _run("plan", desired, "--detailed-exitcode")
        assert again.code == 0, again.text + "\n--- live config.yaml ---\n" + emu.config_yaml()
        assert mutating(emu) == [], described(mutating(emu))
