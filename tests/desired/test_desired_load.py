"""Good desired-state files and the DesiredState they load into."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desired_helpers import FILE_SECRET, SECRETS, SOURCE_TOKEN, Project

from reconciler.core.model import AuthFilesPolicy, DesiredAuthFile
from reconciler.desired.loader import load_desired

FULL = """
target:
  url: http://127.0.0.1:8317               # overridden by --url or CPA_URL
  management-key: ${env:CPA_MANAGEMENT_KEY} # overridden by CPA_MANAGEMENT_KEY
config:                                     # CPA config keys, spelled as in config.yaml
  debug: false
  api-keys:
    - ${env:CLIENT_KEY_1}
  remote-management:
    secret-key: ${env:CPA_MANAGEMENT_KEY}
config-policy:
  prune: false
  ignore: []          # dotted paths
auth-files:
  prune: false
  protect: []         # glob patterns
  max-deletions: 5
  files:
    - name: codex-alice@example.com.json
      source: auth/codex-alice.json        # relative to this file
      disabled: false
      fields: {priority: 7, note: team-a}
      replace: false
"""


def test_the_documented_example(project: Project) -> None:
    project.source("auth/codex-alice.json")
    loaded = project.load(FULL)
    state = loaded.state
    assert loaded.target_url == "http://127.0.0.1:8317"
    assert loaded.management_key == SECRETS["CPA_MANAGEMENT_KEY"]
    assert loaded.path == Path("desired.yaml")
    assert loaded.base_dir == project.root.resolve()
    assert state.config == {
        "debug": False,
        "api-keys": [SECRETS["CLIENT_KEY_1"]],
        "remote-management": {"secret-key": SECRETS["CPA_MANAGEMENT_KEY"]},
    }
    assert state.secret_paths == frozenset({("api-keys", 0), ("remote-management", "secret-key")})
    assert state.config_prune is False
    assert state.config_ignore == ()
    assert state.auth_policy == AuthFilesPolicy(prune=False, protect=(), max_deletions=5)
    assert state.auth_files == (
        DesiredAuthFile(
            name="codex-alice@example.com.json",
            source="auth/codex-alice.json",
            content={"type": "codex", "access_token": SOURCE_TOKEN, "email": "a@example.com"},
            disabled=False,
            fields={"priority": 7, "note": "team-a"},
            replace=False,
        ),
    )


def test_defaults_when_sections_are_absent(project: Project) -> None:
    loaded = project.load("target:\n  url: https://cpa.example.com\n")
    assert loaded.management_key is None
    assert loaded.state.config is None
    assert loaded.state.secret_paths == frozenset()
    assert loaded.state.auth_files == ()
    assert loaded.state.auth_policy == AuthFilesPolicy()


def test_policies(project: Project) -> None:
    loaded = project.load(
        """
        config: {}
        config-policy:
          prune: true
          ignore: [routing.strategy, auth-dir]
        auth-files:
          prune: true
          protect: ["vertex-*.json", "keep.json"]
          max-deletions: 0
        """
    )
    state = loaded.state
    assert state.config == {}
    assert state.config_prune is True
    assert state.config_ignore == ("routing.strategy", "auth-dir")
    assert state.auth_policy == AuthFilesPolicy(
        prune=True, protect=("vertex-*.json", "keep.json"), max_deletions=0
    )


def test_references_in_nested_strings_and_escapes(project: Project) -> None:
    project.write("secrets/proxy-password", FILE_SECRET + "\n")
    loaded = project.load(
        """
        config:
          proxy-url: "socks5://bob:${file:secrets/proxy-password}@proxy:1080"
          openai-compatibility:
            - name: team
              base-url: https://llm.example.com/v1
              api-key-entries:
                - api-key: ${env:CLIENT_KEY_1}
                - api-key: "${env:CLIENT_KEY_1}-${env:CLIENT_KEY_2}"
              headers:
                X-Template: "$${not-a-reference}"
          codex-header-defaults:
            user-agent: "costs $5 and $${env:HOME} stays literal"
        """
    )
    config = loaded.state.config
    assert config is not None
    assert config["proxy-url"] == f"socks5://bob:{FILE_SECRET}@proxy:1080"
    entries = config["openai-compatibility"][0]["api-key-entries"]
    assert entries == [
        {"api-key": SECRETS["CLIENT_KEY_1"]},
        {"api-key": f"{SECRETS['CLIENT_KEY_1']}-{SECRETS['CLIENT_KEY_2']}"},
    ]
    assert config["openai-compatibility"][0]["headers"] == {"X-Template": "${not-a-reference}"}
    assert config["codex-header-defaults"] == {
        "user-agent": "costs $5 and ${env:HOME} stays literal"
    }
    assert loaded.state.secret_paths == frozenset(
        {
            ("proxy-url",),
            ("openai-compatibility", 0, "api-key-entries", 0, "api-key"),
            ("openai-compatibility", 0, "api-key-entries", 1, "api-key"),
        }
    )


def test_file_references_are_relative_to_the_desired_file(project: Project) -> None:
    project.write("team/secrets/key", "from-team-dir\n\n")
    project.write("team/desired.yaml", "target:\n  management-key: ${file:secrets/key}\n")
    loaded = load_desired(project.root / "team" / "desired.yaml", environ={})
    # One trailing newline is stripped, not all of them.
    assert loaded.management_key == "from-team-dir\n"
    assert loaded.base_dir == (project.root / "team").resolve()


def test_config_file(project: Project) -> None:
    project.write(
        "cpa/config.yaml",
        """
        # A CPA config.yaml kept in the repo.
        port: 8317
        api-keys:
          - ${env:CLIENT_KEY_1}
          - plain-but-listed
        remote-management:
          secret-key: ${file:secrets/mk}
        """,
    )
    project.write("secrets/mk", FILE_SECRET + "\n")
    loaded = project.load("config-file: cpa/config.yaml\nconfig-policy: {prune: true}\n")
    assert loaded.state.config == {
        "port": 8317,
        "api-keys": [SECRETS["CLIENT_KEY_1"], "plain-but-listed"],
        "remote-management": {"secret-key": FILE_SECRET},
    }
    assert loaded.state.secret_paths == frozenset(
        {("api-keys", 0), ("remote-management", "secret-key")}
    )
    assert loaded.state.config_prune is True


def test_upstream_example_config_loads_as_a_config_file(
    project: Project, upstream_file: Callable[[str], Path]
) -> None:
    upstream = upstream_file("config.example.yaml")  # CPA's own; skipped when not here
    project.write("config.yaml", upstream.read_text(encoding="utf-8"))
    loaded = project.load("config-file: config.yaml\n")
    config = loaded.state.config
    assert config is not None
    assert config["port"] == 8317
    assert loaded.state.secret_paths == frozenset()


def test_auth_file_fields_are_normalised(project: Project) -> None:
    loaded = project.load(
        """
        auth-files:
          files:
            - name: A.JSON
              disabled: true
              fields:
                proxy-url: socks5://p:1
                excluded-models: [gpt-5]
                model-aliases: {a: b}
                request-retry: 2
                disable-cooling: true
                fingerprint-profile: x
                request-scoped-errors: []
                tool-prefix-disabled: true
                priority: 3
                headers.X-Team: a
                project_id: p-1
            - name: b.json
        """
    )
    first, second = loaded.state.auth_files
    assert first.name == "A.JSON"
    assert first.disabled is True
    assert first.content is None
    assert first.source is None
    assert list(first.fields) == [
        "proxy_url",
        "excluded_models",
        "model_aliases",
        "request_retry",
        "disable_cooling",
        "fingerprint_profile",
        "request_scoped_errors",
        "tool_prefix_disabled",
        "priority",
        "headers.X-Team",
        "project_id",
    ]
    assert first.fields["excluded_models"] == ["gpt-5"]
    assert second == DesiredAuthFile(name="b.json")


def test_replace_with_source(project: Project) -> None:
    project.source("auth/a.json", priority=1)
    loaded = project.load(
        "auth-files:\n  files:\n    - {name: a.json, source: auth/a.json, replace: true}\n"
    )
    entry = loaded.state.auth_files[0]
    assert entry.replace is True
    assert entry.content is not None
    assert entry.content["priority"] == 1


def test_yaml_anchors_may_share_fields(project: Project) -> None:
    loaded = project.load(
        """
        auth-files:
          files:
            - name: a.json
              fields: &team {priority: 5, note: team-a}
            - name: b.json
              fields: *team
        """
    )
    a, b = loaded.state.auth_files
    assert a.fields == b.fields == {"priority": 5, "note": "team-a"}


def test_a_thousand_auth_files_load(project: Project) -> None:
    lines = ["auth-files:", "  files:"]
    for index in range(1000):
        project.source(f"auth/f{index}.json")
        lines += [f"    - name: f{index}.json", f"      source: auth/f{index}.json"]
    project.write("desired.yaml", "\n".join(lines) + "\n")
    loaded = load_desired("desired.yaml", environ={})
    assert len(loaded.state.auth_files) == 1000
    assert loaded.state.auth_files[999].content is not None


def test_a_symlinked_desired_file_keeps_its_own_directory(project: Project) -> None:
    project.write("real/desired.yaml", "target:\n  management-key: ${file:key}\n")
    project.write("real/key", "real\n")
    project.write("link/key", "beside-the-link\n")
    (project.root / "link" / "desired.yaml").symlink_to(project.root / "real" / "desired.yaml")
    loaded = load_desired("link/desired.yaml", environ={})
    assert loaded.management_key == "beside-the-link"
    assert loaded.base_dir == project.root / "link"
