"""Bad desired-state files: each error names the file and line, has the right class, leaks nothing.

The expected line is the one marked ``# <-`` in the file named by ``where``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from desired_helpers import FILE_SECRET, SECRETS, SOURCE_TOKEN, Project, marked_line

from reconciler.errors import DesiredStateError, ReconcilerError, ReferenceError_, SourceError

LITERAL_SECRET = "S3CRET-literal-in-yaml"
ALL_SECRETS = (*SECRETS.values(), SOURCE_TOKEN, FILE_SECRET, LITERAL_SECRET)

GOOD_SOURCE = '{"type": "codex", "access_token": "' + SOURCE_TOKEN + '"}'


@dataclass(frozen=True)
class Bad:
    id: str
    desired: str
    error: type[ReconcilerError]
    message: str
    where: str = "desired.yaml"
    files: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    environ: dict[str, str] = field(default_factory=dict)


CASES = [
    Bad(
        "yaml-syntax",
        """
        config:
          debug: false
          api-keys: ["${env:CLIENT_KEY_1}"
        auth-files:  # <-
          prune: false
        """,
        DesiredStateError,
        "YAML syntax error",
    ),
    Bad(
        "yaml-syntax-does-not-quote-the-line",
        f"""
        config:
          remote-management:
            secret-key: "{LITERAL_SECRET}
        """,
        DesiredStateError,
        "YAML syntax error",
        # The error is found at the end of the file; the scalar started on line 3.
        files={},
    ),
    Bad(
        "yaml-duplicate-key",
        """
        config:
          debug: false
          debug: true  # <-
        """,
        DesiredStateError,
        "duplicate key 'debug'",
    ),
    Bad(
        "yaml-unsafe-tag",
        """
        config:
          debug: !!python/object/apply:os.system ["true"]  # <-
        """,
        DesiredStateError,
        "unsupported tag !!python/object/apply:os.system",
    ),
    Bad("empty-file", "", DesiredStateError, "the file is empty"),
    Bad(
        "top-level-list",
        """
        - target  # <-
        """,
        DesiredStateError,
        "expected a mapping at the top level, got a list",
    ),
    Bad(
        "unknown-top-level-key",
        """
        targte:  # <-
          url: http://127.0.0.1:8317
        """,
        DesiredStateError,
        "unknown key 'targte' at the top level (did you mean 'target'? allowed: target, "
        "config, config-file, config-policy, auth-files)",
    ),
    Bad(
        "unknown-key-in-auth-files",
        """
        auth-files:
          prnue: true  # <-
        """,
        DesiredStateError,
        "unknown key 'prnue' in auth-files (did you mean 'prune'? allowed: prune, protect, "
        "max-deletions, files)",
    ),
    Bad(
        "snake-case-spelling-is-unknown",
        """
        auth-files:
          max_deletions: 3  # <-
        """,
        DesiredStateError,
        "unknown key 'max_deletions' in auth-files (did you mean 'max-deletions'?",
    ),
    Bad(
        "unknown-key-in-entry",
        """
        auth-files:
          files:
            - name: a.json
              sorce: auth/a.json  # <-
        """,
        DesiredStateError,
        "unknown key 'sorce' in auth-files.files[0] (did you mean 'source'?",
    ),
    Bad(
        "missing-entry-name",
        """
        auth-files:
          files:
            - source: auth/a.json  # <-
        """,
        DesiredStateError,
        "auth-files.files[0]: missing required key 'name'",
    ),
    Bad(
        "max-deletions-not-an-integer",
        """
        auth-files:
          prune: true
          max-deletions: five  # <-
        """,
        DesiredStateError,
        "auth-files.max-deletions: expected an integer, got 'five'",
    ),
    Bad(
        "max-deletions-negative",
        """
        auth-files:
          max-deletions: -1  # <-
        """,
        DesiredStateError,
        "auth-files.max-deletions: must be 0 or more, got -1",
    ),
    Bad(
        "prune-not-a-bool",
        """
        config-policy:
          prune: sometimes  # <-
        """,
        DesiredStateError,
        "config-policy.prune: expected true or false, got 'sometimes'",
    ),
    Bad(
        "protect-not-a-list",
        """
        auth-files:
          protect: {a: 1}  # <-
        """,
        DesiredStateError,
        "auth-files.protect: expected a list, got a mapping",
    ),
    Bad(
        "management-key-literal-of-wrong-type-is-not-shown",
        f"""
        target:
          management-key: [{LITERAL_SECRET}]  # <-
        """,
        DesiredStateError,
        "target.management-key: expected a string, got a list",
    ),
    Bad(
        "type-error-on-a-referenced-value-shows-the-reference",
        """
        auth-files:
          prune: ${env:CLIENT_KEY_1}  # <-
        """,
        DesiredStateError,
        "auth-files.prune: expected true or false, got the value of ${env:CLIENT_KEY_1}",
    ),
    Bad(
        "config-not-a-mapping",
        """
        config:  # <-
          - debug
        """,
        DesiredStateError,
        "config: expected a mapping, got a list",
    ),
    Bad(
        "config-key-not-a-string",
        """
        config:
          oauth-model-alias:
            1: x  # <-
        """,
        DesiredStateError,
        "config.oauth-model-alias: key 1 is not a string (quote it)",
    ),
    Bad(
        "config-and-config-file",
        """
        config:
          debug: true
        config-file: cpa.yaml  # <-
        """,
        DesiredStateError,
        "config and config-file are both set",
        files={"cpa.yaml": "debug: true\n"},
    ),
    Bad(
        "config-file-missing",
        """
        config-file: cpa.yaml  # <-
        """,
        DesiredStateError,
        "config-file: cpa.yaml does not exist",
    ),
    Bad(
        "config-file-syntax-error",
        "config-file: cpa.yaml\n",
        DesiredStateError,
        "YAML syntax error",
        where="cpa.yaml",
        files={"cpa.yaml": "debug: true\nport: 8317\n  host: x  # <-\n"},
    ),
    Bad(
        "config-file-not-a-mapping",
        "config-file: cpa.yaml\n",
        DesiredStateError,
        "a CPA config must be a mapping, got a list",
        where="cpa.yaml",
        files={"cpa.yaml": "- debug  # <-\n"},
    ),
    Bad(
        "config-file-reference-unset",
        "config-file: cpa.yaml\n",
        ReferenceError_,
        "api-keys[1]: ${env:CLIENT_KEY_2} is not set",
        where="cpa.yaml",
        files={"cpa.yaml": "api-keys:\n  - ${env:CLIENT_KEY_1}\n  - ${env:CLIENT_KEY_2}  # <-\n"},
        unset=("CLIENT_KEY_2",),
    ),
    Bad(
        "env-reference-unset",
        """
        target:
          url: http://127.0.0.1:8317
          management-key: ${env:CPA_MANAGEMENT_KEY}
        config:
          debug: false
          api-keys:
            - ${env:CLIENT_KEY_1}  # <-
        """,
        ReferenceError_,
        "config.api-keys[0]: ${env:CLIENT_KEY_1} is not set",
        unset=("CLIENT_KEY_1",),
    ),
    Bad(
        "env-reference-unset-inside-a-string",
        """
        config:
          proxy-url: "socks5://user:${env:CLIENT_KEY_1}@${env:PROXY_HOST}:1080"  # <-
        """,
        ReferenceError_,
        "config.proxy-url: ${env:PROXY_HOST} is not set",
    ),
    Bad(
        "file-reference-missing",
        """
        config:
          remote-management:
            secret-key: ${file:secrets/management-key}  # <-
        """,
        ReferenceError_,
        "config.remote-management.secret-key: ${file:secrets/management-key}: the file does "
        "not exist",
    ),
    Bad(
        "reference-of-unknown-kind",
        """
        config:
          api-keys: ["${vault:kv/cpa}"]  # <-
        """,
        ReferenceError_,
        "config.api-keys[0]: invalid reference '${vault:...}' (use ${env:NAME}, "
        "${file:PATH} or ${management-key}; write $${ for a literal ${)",
    ),
    Bad(
        "reference-unterminated",
        f"""
        config:
          remote-management:
            secret-key: "{LITERAL_SECRET}${{env:CPA_MANAGEMENT_KEY"  # <-
        """,
        ReferenceError_,
        "config.remote-management.secret-key: unterminated reference",
    ),
    Bad(
        "reference-bad-env-name",
        """
        config:
          api-keys: ["${env:1ABC}"]  # <-
        """,
        ReferenceError_,
        "config.api-keys[0]: invalid reference '${env:...}'",
    ),
    Bad(
        "target-url-not-http",
        """
        target:
          url: ftp://127.0.0.1:8317  # <-
        """,
        DesiredStateError,
        "target.url: expected an http:// or https:// URL",
    ),
    Bad(
        "target-url-from-reference",
        """
        target:
          url: ${env:CLIENT_KEY_1}  # <-
        """,
        DesiredStateError,
        "target.url: '${env:CLIENT_KEY_1}' is a reference, which is not allowed here: the "
        "target URL is shown in every plan and error; write it literally, or set CPA_URL or --url",
    ),
    Bad(
        "config-file-from-reference",
        """
        config-file: ${env:CLIENT_KEY_1}  # <-
        """,
        DesiredStateError,
        "config-file: '${env:CLIENT_KEY_1}' is a reference, which is not allowed here",
    ),
    Bad(
        "protect-from-reference",
        """
        auth-files:
          protect: ["keep-*.json", "${env:CLIENT_KEY_1}"]  # <-
        """,
        DesiredStateError,
        "auth-files.protect[1]: '${env:CLIENT_KEY_1}' is a reference",
    ),
    Bad(
        "duplicate-auth-file-name",
        """
        auth-files:
          files:
            - name: a.json
            - name: b.json
            - name: a.json  # <-
        """,
        DesiredStateError,
        "auth-files.files[2].name: duplicate auth-file name (first at line 3)",
    ),
    Bad(
        "auth-file-name-with-slash",
        """
        auth-files:
          files:
            - name: ../a.json  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].name: '../a.json' is not a valid auth-file name: the name must "
        "not contain / or \\",
    ),
    Bad(
        "auth-file-name-with-backslash",
        r"""
        auth-files:
          files:
            - name: 'sub\a.json'  # <-
        """,
        DesiredStateError,
        "'sub\\a.json' is not a valid auth-file name: the name must not contain / or \\",
    ),
    Bad(
        "auth-file-name-not-json",
        """
        auth-files:
          files:
            - name: codex-alice.yaml  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].name: 'codex-alice.yaml' is not a valid auth-file name: the name "
        "must end in .json",
    ),
    Bad(
        "auth-file-name-empty",
        """
        auth-files:
          files:
            - name: ""  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].name: '' is not a valid auth-file name: the name is empty",
    ),
    Bad(
        "auth-file-name-from-reference-is-refused",
        """
        auth-files:
          files:
            - name: ${env:CLIENT_KEY_1}  # <-
        """,
        DesiredStateError,
        "name: '${env:CLIENT_KEY_1}': an auth-file name must be written literally, not as a "
        "reference",
    ),
    Bad(
        "source-missing",
        """
        auth-files:
          files:
            - name: a.json
              source: auth/missing.json  # <-
        """,
        SourceError,
        "auth-files.files[0].source: auth/missing.json does not exist",
    ),
    Bad(
        "source-not-json",
        """
        auth-files:
          files:
            - name: a.json
              source: auth/a.json  # <-
        """,
        SourceError,
        "auth-files.files[0].source: auth/a.json is not valid JSON (Expecting ',' delimiter "
        "at line 1 column 57)",
        files={"auth/a.json": '{"type": "codex", "access_token": "' + SOURCE_TOKEN + '" "x": 1}'},
    ),
    Bad(
        "source-not-an-object",
        """
        auth-files:
          files:
            - name: a.json
              source: auth/a.json  # <-
        """,
        SourceError,
        "auth/a.json is not a JSON object (it holds an array)",
        files={"auth/a.json": '["' + SOURCE_TOKEN + '"]'},
    ),
    Bad(
        "source-is-a-directory",
        """
        auth-files:
          files:
            - name: a.json
              source: auth  # <-
        """,
        SourceError,
        "auth-files.files[0].source: auth is a directory, not a JSON file",
        files={"auth/x.json": GOOD_SOURCE},
    ),
    Bad(
        "fields-token-field",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                priority: 1
                access_token: x  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].fields.access_token: a token field: tokens are owned by the "
        "server, never set from desired state",
    ),
    Bad(
        "fields-kebab-token-field",
        """
        auth-files:
          files:
            - name: a.json
              fields: {refresh-token: x}  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].fields.refresh-token: a token field",
    ),
    Bad(
        "fields-account-prefix",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                account_id: x  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].fields.account_id: a token field",
    ),
    Bad(
        "fields-disabled",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                disabled: true  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].fields.disabled: 'disabled' is not a field: use the entry's own "
        "disabled key",
    ),
    Bad(
        "fields-legacy-and-snake-spelling",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                proxy_url: socks5://a
                proxy-url: socks5://b  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].fields.proxy-url: 'proxy-url' and 'proxy_url' are the same field",
    ),
    Bad(
        "fields-not-a-mapping",
        """
        auth-files:
          files:
            - name: a.json
              fields: [priority]  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].fields: expected a mapping, got a list",
    ),
    Bad(
        "replace-without-source",
        """
        auth-files:
          files:
            - name: a.json
              replace: true  # <-
        """,
        DesiredStateError,
        "auth-files.files[0].replace: true needs a source",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_desired_state(project: Project, case: Bad) -> None:
    for relative, text in case.files.items():
        project.write(relative, text)
    environ = {k: v for k, v in project.environ.items() if k not in case.unset}
    environ.update(case.environ)
    with pytest.raises(ReconcilerError) as caught:
        project.load(case.desired, environ=environ)
    error = caught.value
    message = str(error)
    assert type(error) is case.error, message
    marked = case.desired if case.where == "desired.yaml" else case.files[case.where]
    if "# <-" in marked:
        assert message.startswith(f"{case.where}:{marked_line(marked)}: "), message
    else:
        assert message.startswith(f"{case.where}:"), message
    assert case.message in message
    for secret in ALL_SECRETS:
        assert secret not in message


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 20


def test_a_syntax_error_names_where_the_scalar_started(project: Project) -> None:
    text = f'config:\n  remote-management:\n    secret-key: "{LITERAL_SECRET}\n'
    with pytest.raises(DesiredStateError) as caught:
        project.load(text)
    message = str(caught.value)
    assert message.startswith("desired.yaml:4: YAML syntax error")
    assert "(started at line 3)" in message
    assert LITERAL_SECRET not in message


def test_desired_state_error_carries_path_and_line(project: Project) -> None:
    with pytest.raises(DesiredStateError) as caught:
        project.load("auth-files:\n  prnue: true\n")
    assert caught.value.path == "desired.yaml"
    assert caught.value.line == 2


def test_all_schema_errors_are_reported_in_line_order(project: Project) -> None:
    text = """
    auth-files:
      max-deletions: five
      prnue: true
    config-policy:
      prune: maybe
    """
    with pytest.raises(DesiredStateError) as caught:
        project.load(text)
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        "desired.yaml:2",
        "desired.yaml:3",
        "desired.yaml:5",
    ]


def test_desired_file_missing(project: Project) -> None:
    from reconciler.desired.loader import load_desired

    with pytest.raises(DesiredStateError, match=r"^nothere\.yaml: file not found$"):
        load_desired("nothere.yaml", environ={})


def test_source_error_in_a_subdirectory_names_both_files(project: Project) -> None:
    project.write("team/auth/a.json", "[]")
    project.write(
        "team/desired.yaml",
        """
        auth-files:
          files:
            - name: a.json
              source: auth/a.json
        """,
    )
    from reconciler.desired.loader import load_desired

    with pytest.raises(SourceError) as caught:
        load_desired("team/desired.yaml", environ={})
    assert str(caught.value) == (
        "team/desired.yaml:4: auth-files.files[0].source: team/auth/a.json is not a JSON "
        "object (it holds an array)"
    )
