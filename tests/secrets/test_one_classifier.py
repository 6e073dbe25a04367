"""One secret classifier for every output, walked over every secret-bearing key CPA documents.

``data/cpa-secret-config.yaml`` holds each secret-bearing key of CPA v7.2.140's documented
config (its config.example.yaml and the management API notes, copied here as data), each value
carrying the marker ``Cl4ssified``. Each test sends all of them through one output: the plan as
text, Markdown and JSON (values changed, and values pruned), the daemon's drift events, the
values redacted from server error text, ``reconciler export`` against a CPA holding them, and
``reconciler apply`` (its output and its backup manifest). None may come out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler import cli
from reconciler.core import secrets
from reconciler.core.model import DesiredState, LiveState
from reconciler.core.plan import PlanOptions, make_plan
from reconciler.daemon import drift
from reconciler.emulator import Emulator
from reconciler.output import plan_json, render
from reconciler.pipeline import planning

DATA = Path(__file__).parent / "data" / "cpa-secret-config.yaml"
MARK = "Cl4ssified"
OLD_TEXT = DATA.read_text(encoding="utf-8")
NEW_TEXT = OLD_TEXT.replace(f"{MARK}-", f"{MARK}-new-")
FINGERPRINT_KEY = b"k" * 32
# Values beside the secrets that are not secret: the plan must keep them readable.
NOT_SECRET = {
    ("gemini-api-key", 0, "base-url"),
    ("codex-api-key", 0, "base-url"),
    ("openai-compatibility", 0, "name"),
    ("openai-compatibility", 0, "base-url"),
    ("codex", "live-media-relay", "ice-servers", 0, "username"),
    ("codex", "live-media-relay", "ice-servers", 0, "urls", 0),
    ("amp-upstream-url",),
    ("ampcode", "upstream-url"),
    ("remote-management", "allow-remote"),
}


def parse(text: str) -> dict[str, Any]:
    data = YAML(typ="safe").load(text)
    assert isinstance(data, dict)
    return data


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, (*path, i))]
    return [(path, value)]


OLD = parse(OLD_TEXT)
NEW = parse(NEW_TEXT)
PLANTED = [(path, v) for path, v in leaves(OLD) if isinstance(v, str) and MARK in v]


def assert_clean(where: str, text: str) -> None:
    found = [line for line in text.splitlines() if MARK in line]
    assert not found, f"{where} shows a secret:\n" + "\n".join(found[:10])


def test_the_data_holds_every_documented_secret() -> None:
    assert len(PLANTED) == 32
    assert {p[0] for p, _ in PLANTED} >= {
        "remote-management",
        "api-keys",
        "proxy-url",
        "gemini-api-key",
        "interactions-api-key",
        "codex-api-key",
        "xai-api-key",
        "claude-api-key",
        "vertex-api-key",
        "openai-compatibility",
        "codex",
        "amp-upstream-api-key",
        "ampcode",
        "generative-language-api-key",
    }


@pytest.mark.parametrize(("path", "value"), PLANTED, ids=lambda x: str(x)[:60])
def test_the_classifier_marks_each_documented_secret(path: tuple[Any, ...], value: str) -> None:
    assert secrets.is_secret_path(path, value)
    assert secrets.masked(path[:1], OLD[path[0]])[1]


def test_the_values_beside_them_stay_readable() -> None:
    for path, value in leaves(OLD):
        if path in NOT_SECRET:
            assert not secrets.is_secret_path(path, value), path


def _plans() -> list[tuple[str, Any]]:
    changed = make_plan(
        DesiredState(config=NEW),
        LiveState(config_text=OLD_TEXT, config=OLD),
        PlanOptions(),
    )
    pruned = make_plan(
        DesiredState(config={"debug": True}, config_prune=True),
        LiveState(config_text=OLD_TEXT, config=OLD),
        PlanOptions(),
    )
    return [("changed", changed), ("pruned", pruned)]


@pytest.mark.parametrize(("scenario", "plan"), _plans(), ids=["changed", "pruned"])
def test_every_plan_output_masks_every_documented_secret(scenario: str, plan: Any) -> None:
    config = plan.config_action
    assert config is not None and len(config.changes) >= 14, scenario
    outputs = {
        "text": render.render_text(plan),
        "text with fingerprints": render.render_text(plan, fingerprint_key=FINGERPRINT_KEY),
        "markdown": render.render_markdown(plan, fingerprint_key=FINGERPRINT_KEY),
        "json": json.dumps(
            plan_json.plan_to_json(plan, fingerprint_key=FINGERPRINT_KEY, meta={}), indent=2
        ),
        "daemon events": json.dumps([i.fields() for i in drift.items_from_plan(plan)]),
    }
    for where, text in outputs.items():
        assert_clean(f"{scenario} plan as {where}", text)
    assert "***" in outputs["text"]


def test_error_redaction_knows_every_documented_secret() -> None:
    values = set(planning.secret_values(DesiredState(config=OLD)))
    missing = [v for _, v in PLANTED if v not in values and v.split("@")[0] not in values]
    assert not missing


def _emulator(tmp_path: Path) -> Emulator:
    head = f'host: "127.0.0.1"\nport: 8317\nauth-dir: "{tmp_path / "auths"}"\n'
    return Emulator(management_key=None, config_yaml=head + OLD_TEXT)


MGMT_KEY = "Cl4ssified-01-secret-key"
REMOVED_GL = "generative-language-api-key"


def test_export_writes_every_documented_secret_as_a_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", MGMT_KEY)
    out = tmp_path / "exported.yaml"
    with _emulator(tmp_path) as emu:
        code = cli.main(["export", "--url", emu.url, "-o", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    exported = out.read_text(encoding="utf-8")
    assert_clean("export", exported + printed.out + printed.err)
    doc = parse(exported)
    assert doc["config"]["amp-upstream-api-key"].startswith("${env:")
    assert doc["config"]["ampcode"]["upstream-api-key"].startswith("${env:")
    assert doc["config"]["codex-api-key"][0]["base-url"] == "https://www.example.com"


def test_apply_shows_no_documented_secret_and_its_manifest_holds_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", MGMT_KEY)
    monkeypatch.setenv("NO_COLOR", "1")
    new = parse(NEW_TEXT)
    new["remote-management"]["secret-key"] = MGMT_KEY  # keep the key in use (lockout guard)
    for removed in ("amp-upstream-api-key", "amp-upstream-url", "ampcode", REMOVED_GL):
        del new[removed]  # keys CPA removed in v7 are refused in a desired state (they stay live)
    del new["openai-compatibility"][0]["api-keys"]
    desired = tmp_path / "desired-state.yaml"
    with _emulator(tmp_path) as emu:
        doc = {"target": {"url": emu.url}, "config": new}
        desired.write_text(json.dumps(doc), encoding="utf-8")
        codes = [
            cli.main(["plan", str(desired), "--json"]),
            cli.main(["plan", str(desired), "--markdown"]),
            cli.main(["apply", str(desired), "--auto-approve"]),
        ]
        live = emu.config_yaml()
    printed = capsys.readouterr()
    assert codes == [0, 0, 0], printed.err
    assert_clean("plan and apply output", printed.out + printed.err)
    assert f"{MARK}-new-11-codex-api-key" in live  # the apply did write them
    [manifest] = (tmp_path / ".reconciler").rglob("manifest.json")
    assert_clean("the backup manifest", manifest.read_text(encoding="utf-8"))
