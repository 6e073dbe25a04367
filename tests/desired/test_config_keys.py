"""Declared config keys and value types are checked offline against CPA v7.2.140's.

``reconciler.core.cpa_config_keys`` holds CPA's keys and the types its Go decoder reads them
as; the loader refuses a typo (with the closest key) or a value CPA would refuse, naming
file:line, before any request. The table is cross-checked against CPA's own
config.example.yaml (a copy in tests/data/upstream) and against the emulator's parsing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from desired_helpers import SECRETS, Project, marked_line
from ruamel.yaml import YAML

from reconciler.core import cpa_config_keys as keys
from reconciler.core.cpa_config_keys import AnyValue, ListOf, MapOf, OneOf, Scalar, Struct
from reconciler.desired.loader import desired_state_schema, load_desired
from reconciler.emulator import Emulator, config_check, yaml_doc
from reconciler.emulator.defaults import RUNTIME_OPTIONAL_KEYS, RUNTIME_TEMPLATE
from reconciler.emulator.gotime import parse_duration
from reconciler.errors import DesiredStateError

REPO = Path(__file__).resolve().parents[2]
UPSTREAM_EXAMPLE = REPO / "tests" / "data" / "upstream" / "config.example.yaml"


def problems(config: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    return [(keys.dotted(p.path), p.message) for p in keys.check_config(config, **kwargs)]


# ---------------------------------------------------------------------------------------------
# The check


@pytest.mark.parametrize(
    ("config", "path", "words"),
    [
        ({"reqest-retry": 2}, "reqest-retry", "did you mean 'request-retry'?"),
        ({"debgu": True}, "debgu", "did you mean 'debug'?"),
        ({"routing": {"stratgy": "rr"}}, "routing.stratgy", "did you mean 'strategy'?"),
        (
            {"gemini-api-key": [{"api-key": "k", "weigth": 2}]},
            "gemini-api-key.weigth",
            "did you mean 'weight'?",
        ),
        (
            {"remote-management": {"allow-remotes": False}},
            "remote-management.allow-remotes",
            "did you mean 'allow-remote'?",
        ),
        (
            {"quota-exceeded": {"switch-projects": True}},
            "quota-exceeded.switch-projects",
            "did you mean 'switch-project'?",
        ),
        ({"zzz": 1}, "zzz", "unknown key: CPA v7.2.140 does not know it"),
        ({"auth": {}}, "auth", "removed in CPA v7"),
        ({"generative-language-api-key": []}, "generative-language-api-key", "gemini-api-key"),
    ],
)
def test_unknown_keys_are_refused_with_the_closest_known_one(
    config: dict[str, Any], path: str, words: str
) -> None:
    [(where, message)] = problems(config)
    assert where == path
    assert words in message
    if "removed" not in message:
        assert f"add '{path}' to config-policy.allow-unknown-keys" in message


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"request-retry": "three"}, "expected an integer, got the string 'three'"),
        ({"request-retry": "2"}, "CPA refuses a quoted number; write 2 without quotes"),
        ({"port": 8317.0}, "expected an integer, got 8317.0"),
        ({"request-retry": True}, "expected an integer, got true"),
        ({"debug": "false"}, "a quoted false is a string, which CPA refuses"),
        ({"debug": "yes"}, "write true"),
        ({"debug": 1}, "expected true or false, got 1"),
        ({"debug": [True]}, "expected true or false, got a list"),
        ({"host": {"a": 1}}, "expected a string, got a mapping"),
        ({"api-keys": "k"}, "expected a list, got the string 'k'"),
        ({"routing": "fill-first"}, "expected a mapping"),
        ({"gemini-api-key": [{"weight": 1_000_001}]}, "must be at most 1,000,000"),
        ({"openai-compatibility": [{"api-key-entries": [{"weight": -1}]}]}, "0 or more"),
        ({"credential-in-flight": {"stale-after": "10 s"}}, "invalid duration"),
        ({"credential-in-flight": {"max-details": -1}}, "0 or more"),
        ({"credential-concurrency": {"reclaim-grace": "soon"}}, "expected a Go duration"),
        ({"disable-image-generation": "never"}, 'one of "chat", "passthrough"'),
        ({"codex": {"live-media-relay": {"enabled": "on"}}}, "write true"),
        ({"claude-api-key": [{"cloak": {"strict-mode": "true"}}]}, "a quoted true"),
    ],
)
def test_values_cpa_cannot_decode_are_refused(config: dict[str, Any], words: str) -> None:
    [(_, message)] = problems(config)
    assert words in message


@pytest.mark.parametrize(
    "config",
    [
        {"host": 8317, "proxy-url": True, "api-keys": [5555512345, "k"]},  # text of a scalar
        {"debug": None, "routing": None, "api-keys": None},  # Go's zero value
        {"credential-concurrency": {"reclaim-grace": "1m30s", "cleanup-interval": 5_000_000}},
        {"credential-in-flight": {"stale-after": "0", "snapshot-interval": "1.5s"}},
        {"disable-image-generation": "chat"},
        {"disable-image-generation": True},
        {"plugins": {"configs": {"my-plugin": {"enabled": True, "mode": "fast", "x": [1]}}}},
        {"payload": {"override": [{"models": [{"name": "gpt-*"}], "params": {"a.b": [1]}}]}},
        {"oauth-model-alias": {"any-channel": [{"name": "a", "alias": "b", "fork": True}]}},
        {"gemini-api-key": [{"headers": {"X-Anything": "v"}}]},
    ],
)
def test_what_cpa_reads_is_accepted(config: dict[str, Any]) -> None:
    assert problems(config) == []


def test_every_problem_is_reported_in_document_order() -> None:
    config = {"debug": "false", "routing": {"stratgy": "rr"}, "request-retry": "x"}
    assert [path for path, _ in problems(config)] == [
        "debug",
        "routing.stratgy",
        "request-retry",
    ]


@pytest.mark.parametrize(
    ("allow", "config"),
    [
        (["reqest-retry"], {"reqest-retry": 2}),
        (["x-*"], {"x-new": {"nested": [1]}, "x-other": "anything"}),
        (["routing.new-thing"], {"routing": {"strategy": "rr", "new-thing": 1}}),
        (["gemini-api-key.new-field"], {"gemini-api-key": [{"new-field": 1}, {"new-field": 2}]}),
        (["*.new-field"], {"codex-api-key": [{"models": [{"new-field": 1}]}]}),
    ],
)
def test_allow_unknown_keys_lets_a_newer_cpas_keys_through(
    allow: list[str], config: dict[str, Any]
) -> None:
    assert problems(config) != []
    assert problems(config, allow_unknown=allow) == []


def test_allow_unknown_keys_does_not_loosen_known_keys() -> None:
    assert problems({"debug": "false"}, allow_unknown=["*"]) != []
    # a bare name is a top-level key only
    assert problems({"routing": {"new": 1}}, allow_unknown=["new"]) != []


def test_a_reference_in_an_integer_or_bool_field_is_refused_as_written() -> None:
    found = keys.check_config(
        {"port": "8317", "debug": "true", "host": "h"},
        referenced={("port",), ("debug",), ("host",)},
        written=lambda path: "${env:PORT}" if path == ("port",) else "${env:DEBUG}",
    )
    assert [(p.path, p.message) for p in found] == [
        (
            ("port",),
            "expected an integer, got the value of ${env:PORT}: a reference always gives a "
            "string, which CPA refuses here; write the value itself",
        ),
        (
            ("debug",),
            "expected true or false, got the value of ${env:DEBUG}: a reference always gives a "
            "string, which CPA refuses here; write the value itself",
        ),
    ]


def test_unknown_key_patterns_allow_exactly_the_unknown_keys() -> None:
    config = {"x-a": 1, "we*ird[1]": 2, "routing": {"zz": 1}, "debug": False}
    patterns = keys.unknown_key_patterns(config)
    assert patterns == ["x-a", "we[*]ird[[]1]", "routing.zz"]
    assert problems(config, allow_unknown=patterns) == []
    assert problems({"weXird[1]": 1}, allow_unknown=patterns) != []


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "5s",
        "1m30s",
        "1.5h",
        ".5s",
        "5.s",
        "250ms",
        "3us",
        "3µs",
        "3μs",
        "-2s",
        "+1h",
        "1h2m3s4ms",
    ],
)
def test_go_durations_read_as_the_emulator_reads_them(text: str) -> None:
    assert keys.is_go_duration(text)
    parse_duration(text)  # the emulator's ParseDuration accepts it too


@pytest.mark.parametrize("text", ["", "5", "s", "5 s", "5sec", "1d", "1h-2m", "ms5"])
def test_not_go_durations(text: str) -> None:
    assert not keys.is_go_duration(text)
    with pytest.raises(ValueError):
        parse_duration(text)


# ---------------------------------------------------------------------------------------------
# Through the loader: file:line, references, config-file, warnings


def test_a_typo_names_file_line_and_the_key_it_meant(project: Project) -> None:
    text = """
        config:
          debug: false
          reqest-retry: 2   # <-
        """
    with pytest.raises(DesiredStateError) as caught:
        project.load(text)
    assert caught.value.path == "desired.yaml"
    assert caught.value.line == marked_line(text)
    message = str(caught.value)
    assert f"desired.yaml:{marked_line(text)}" in message
    assert "config.reqest-retry: unknown key (did you mean 'request-retry'?)" in message


def test_every_problem_is_listed_with_its_line(project: Project) -> None:
    text = """
        config:
          debug: "false"        # <-
          routing:
            stratgy: rr
          request-retry: three
        """
    with pytest.raises(DesiredStateError) as caught:
        project.load(text)
    first = marked_line(text)
    message = str(caught.value)
    assert caught.value.line == first
    assert f"desired.yaml:{first + 2}: config.routing.stratgy: unknown key" in message
    assert f"desired.yaml:{first + 3}: config.request-retry: expected an integer" in message


def test_a_referenced_value_is_shown_as_its_reference_never_its_value(project: Project) -> None:
    text = """
        config:
          port: ${env:CLIENT_KEY_1}   # <-
          api-keys: ["${env:CLIENT_KEY_2}"]
        """
    with pytest.raises(DesiredStateError) as caught:
        project.load(text)
    message = str(caught.value)
    assert caught.value.line == marked_line(text)
    assert "config.port: expected an integer, got the value of ${env:CLIENT_KEY_1}" in message
    assert not any(secret in message for secret in SECRETS.values())


def test_a_config_file_is_checked_naming_its_own_lines(project: Project) -> None:
    project.write(
        "cpa/config.yaml", "port: 8317\nroutng:\n  strategy: rr\nhost: ${env:CLIENT_KEY_1}\n"
    )
    with pytest.raises(DesiredStateError) as caught:
        project.load("config-file: cpa/config.yaml\n")
    assert caught.value.path == "cpa/config.yaml"
    assert caught.value.line == 2
    assert "routng: unknown key (did you mean 'routing'?)" in str(caught.value)


def test_a_config_file_reference_in_an_int_field_is_shown_as_written(project: Project) -> None:
    project.write("cpa/config.yaml", "port: ${env:CLIENT_KEY_1}\n")
    with pytest.raises(DesiredStateError) as caught:
        project.load("config-file: cpa/config.yaml\n")
    message = str(caught.value)
    assert "got the value of ${env:CLIENT_KEY_1}" in message
    assert SECRETS["CLIENT_KEY_1"] not in message


def test_allow_unknown_keys_in_the_desired_file(project: Project) -> None:
    loaded = project.load(
        """
        config:
          reqest-retry: 2
          routing:
            new-thing: [1]
        config-policy:
          allow-unknown-keys: [reqest-retry, "routing.new-*"]
        """
    )
    assert loaded.state.config == {"reqest-retry": 2, "routing": {"new-thing": [1]}}


def test_allow_unknown_keys_must_be_a_list_of_strings(project: Project) -> None:
    with pytest.raises(DesiredStateError, match="allow-unknown-keys"):
        project.load("config-policy:\n  allow-unknown-keys: {a: 1}\n")


def test_a_field_name_close_to_a_known_one_is_a_warning(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """
        auth-files:
          files:
            - name: a.json
              fields:
                priorty: 3         # <-
                team: blue
                proxy-url: socks5://h:1
                note: ok
        """
    warned: list[str] = []
    project.write("desired.yaml", text)
    loaded = load_desired("desired.yaml", environ=project.environ, warn=warned.append)
    line = marked_line(text)
    expected = (
        f"desired.yaml:{line}: auth-files.files[0].fields.priorty: CPA reads no field "
        "'priorty'; did you mean 'priority'? (a custom field is kept as written)"
    )
    assert warned == [expected]
    assert loaded.warnings == (expected,)
    assert loaded.state.auth_files[0].fields["priorty"] == 3  # kept: only a warning
    # by default: on stderr, once per process (a daemon loads the file every cycle)
    capsys.readouterr()
    load_desired("desired.yaml", environ=project.environ)
    load_desired("desired.yaml", environ=project.environ)
    err = capsys.readouterr().err
    assert err.count("warning: ") <= 1  # once per process: maybe printed by an earlier test
    assert err in ("", f"warning: {expected}\n")


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("Priority", "'priority'"),
        ("notes", "'note'"),
        ("request_retries", "'request_retry'"),
        ("proxyurl", "'proxy_url'"),
        ("heders", "'headers'"),
        ("disable", "the entry's own disabled key"),
    ],
)
def test_field_name_hints(project: Project, key: str, meant: str) -> None:
    project.write(
        "desired.yaml", f"auth-files:\n  files:\n    - name: a.json\n      fields: {{{key}: 1}}\n"
    )
    warned: list[str] = []
    load_desired("desired.yaml", environ=project.environ, warn=warned.append)
    assert len(warned) == 1
    assert f"did you mean {meant}?" in warned[0]


def test_validate_prints_the_warning(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.cli import main

    project.write(
        "desired.yaml", "auth-files:\n  files:\n    - name: a.json\n      fields: {wieght: 2}\n"
    )
    assert main(["validate", "desired.yaml"]) == 0
    captured = capsys.readouterr()
    assert "valid" in captured.out
    assert "desired.yaml:4: auth-files.files[0].fields.wieght" in captured.err
    assert "did you mean 'weight'?" in captured.err


# ---------------------------------------------------------------------------------------------
# Cross-checks: CPA's config.example.yaml


_COMMENTED_KEY = re.compile(r"^(\s*)# ([a-z0-9][a-z0-9-]*):(?:\s|$)")


def uncommented_example() -> str:
    """CPA's config.example.yaml with its commented-out examples made live.

    A commented block starts at ``# key:`` (a lower-case key, at any indent) and goes on while
    the lines are ``#`` followed by at least two spaces at the same indent; its lines lose
    their ``# ``. Prose comments (capitalised, or not ``key:``) stay comments.
    """
    out: list[str] = []
    block: str | None = None
    for line in UPSTREAM_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if block is not None and line.startswith(block + "#  "):
            out.append(block + line[len(block) + 2 :])
            continue
        block = None
        match = _COMMENTED_KEY.match(line)
        if match:
            block = match.group(1)
            line = block + line[len(block) + 2 :]
        out.append(line)
    return "\n".join(out) + "\n"


def covered(value: Any, kind: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """The table's dotted paths that ``value`` writes."""
    if isinstance(kind, ListOf) and isinstance(value, list):
        for item in value:
            yield from covered(item, kind.item, prefix)
    elif isinstance(kind, MapOf) and isinstance(value, dict):
        for item in value.values():
            yield from covered(item, kind.value, prefix)
    elif isinstance(kind, Struct) and isinstance(value, dict):
        for key, item in value.items():
            if key in kind.fields:
                yield ".".join((*prefix, key))
                yield from covered(item, kind.fields[key], (*prefix, key))


def test_the_upstream_example_is_here_and_unchanged_in_kind() -> None:
    text = UPSTREAM_EXAMPLE.read_text(encoding="utf-8")
    assert text.startswith("# Server host/interface to bind to.")
    assert "request-retry: 3" in text


def test_every_key_of_the_upstream_example_is_known_with_its_type() -> None:
    live = YAML(typ="safe").load(UPSTREAM_EXAMPLE.read_text(encoding="utf-8"))
    full = YAML(typ="safe").load(uncommented_example())
    assert set(full) > set(live)  # the commented examples were read too
    assert problems(live) == []
    assert problems(full) == []
    written = set(covered(full, keys.CONFIG))
    # the example writes (nearly) every key the table knows, nested ones included
    for path in (
        "remote-management.disable-auto-update-panel",
        "plugins.store-auth.token-env",
        "codex.live-media-relay.ice-servers.credential",
        "claude-api-key.cloak.cache-user-id",
        "openai-compatibility.api-key-entries.weight",
        "oauth-request-scoped-errors.match-regexr",
        "payload.filter.params",
        "credential-concurrency.busy-retry-max",
    ):
        assert path in written
    assert len(written) > 300


def test_every_top_level_key_of_the_table_is_documented_upstream_or_parsed_by_the_emulator() -> (
    None
):
    full = YAML(typ="safe").load(uncommented_example())
    emulator_keys = {*RUNTIME_TEMPLATE, *RUNTIME_OPTIONAL_KEYS, "host", "port", "auth-dir"}
    for key in keys.CONFIG.fields:
        assert key in full or key in emulator_keys, key


# ---------------------------------------------------------------------------------------------
# Cross-checks: the emulator's parsing


def test_every_key_the_emulator_shows_is_known_with_a_matching_type() -> None:
    for key in (*RUNTIME_TEMPLATE, *RUNTIME_OPTIONAL_KEYS, "host", "port", "auth-dir"):
        assert key in keys.CONFIG.fields, key
    for key, default in RUNTIME_TEMPLATE.items():
        kind = keys.CONFIG.fields[key]
        if isinstance(default, dict) and key not in ("streaming", "routing", "antigravity"):
            assert isinstance(kind, Struct), key
            for sub, sub_default in default.items():
                assert sub in kind.fields, f"{key}.{sub}"
                _assert_compatible(sub_default, kind.fields[sub], f"{key}.{sub}")
        else:
            _assert_compatible(default, kind, key)


def _assert_compatible(default: Any, kind: Any, where: str) -> None:
    if isinstance(default, dict):
        assert isinstance(kind, Struct | MapOf), where
        return
    if default is None:  # a nil list, map or pointer
        assert isinstance(kind, ListOf | MapOf | Scalar), where
        return
    if isinstance(default, bool):
        assert kind in (keys.BOOL,) or isinstance(kind, OneOf), where
    elif isinstance(default, int):
        assert isinstance(kind, Scalar) and kind.kind in ("int", "duration"), where
    else:
        assert isinstance(kind, Scalar) and kind.kind in ("string", "duration-text"), where


def sample(kind: Any) -> Any:
    """A value of ``kind`` CPA reads (the smallest that fits)."""
    if isinstance(kind, Scalar):
        return {
            "string": "x",
            "int": kind.minimum or 0,
            "bool": False,
            "duration": "5s",
            "duration-text": "5s",
        }[kind.kind]
    if isinstance(kind, OneOf):
        return kind.words[0]
    if isinstance(kind, AnyValue):
        return "x"
    if isinstance(kind, ListOf):
        return [sample(kind.item)]
    if isinstance(kind, MapOf):
        return {"k": sample(kind.value)}
    return {key: sample(inner) for key, inner in kind.fields.items()}


Wrap = Callable[[Any], Any]


def placed(
    kind: Any, wrap: Wrap = lambda value: value, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, Any, Wrap]]:
    """(dotted path, type, wrap) for every key of the table: ``wrap(v)`` is a config holding
    ``v`` at that path (in one list item or map entry where the path crosses a list or map)."""
    if isinstance(kind, Struct):
        for key, inner in kind.fields.items():
            path = (*prefix, key)
            here = _nest(wrap, lambda value, key=key: {key: value})
            yield ".".join(path), inner, here
            yield from placed(inner, here, path)
    elif isinstance(kind, ListOf):
        yield from placed(kind.item, _nest(wrap, lambda value: [value]), prefix)
    elif isinstance(kind, MapOf):
        yield from placed(kind.value, _nest(wrap, lambda value: {"k": value}), prefix)


def _nest(outer: Wrap, inner: Wrap) -> Wrap:
    return lambda value: outer(inner(value))


PROBES: tuple[Any, ...] = ("x", 7, True, ["x"], {"k": "x"}, "5s")


def emulator_refuses(config: dict[str, Any]) -> bool:
    """What PUT /config.yaml of the emulator answers 400 or 422 to (its own parse)."""
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(config, out)
    try:
        doc = yaml_doc.load(out.getvalue())
        if config_check.type_errors(doc):
            return True
        config_check.validate(yaml_doc.to_plain(doc))
    except (yaml_doc.YamlSyntaxError, config_check.InvalidConfig):
        return True
    return False


def test_what_the_table_accepts_the_emulator_accepts_and_where_it_checks_it_agrees() -> None:
    checked: list[str] = []
    for dotted, kind, wrap in placed(keys.CONFIG):
        verdicts = []
        for probe in PROBES:
            config = wrap(probe)
            ours = not problems(config)
            theirs = not emulator_refuses(config)
            if ours:  # validate passing means apply is not answered 400/422
                assert theirs, f"{dotted}: {probe!r} passes validate but the emulator refuses it"
            verdicts.append((ours, theirs))
        # Where the emulator type-checks a value (it refuses a probe), it refuses what the
        # table refuses. Mappings and lists are left out: the table also refuses their
        # unknown keys, which CPA writes and ignores.
        if isinstance(kind, Scalar) and any(not theirs for _, theirs in verdicts):
            checked.append(dotted)
            for probe, (ours, theirs) in zip(PROBES, verdicts, strict=True):
                assert ours == theirs, (dotted, probe, ours, theirs)
        assert not emulator_refuses(wrap(sample(kind))), dotted
    for key in ("request-retry", "debug", "port", "routing.strategy", "tls.enable", "pprof.addr"):
        assert key in checked
    assert len(checked) > 50


def test_a_config_of_every_key_is_accepted_by_the_emulator_over_http(emulator: Emulator) -> None:
    config = sample(keys.CONFIG)
    config["remote-management"]["secret-key"] = "test-mgmt-key"  # stay manageable
    assert problems(config) == []
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(config, out)
    answer = httpx.put(
        emulator.url + "/v0/management/config.yaml",
        content=out.getvalue().encode(),
        headers={"Authorization": "Bearer test-mgmt-key"},
    )
    assert answer.status_code == 200, answer.text


# ---------------------------------------------------------------------------------------------
# The shipped files and the schema


def _config_of(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data.get("config", data)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "path",
    [
        REPO / "examples" / "desired-state" / "desired-state.yaml",
        REPO / "reconciler" / "demo_data" / "desired-state.yaml",
        REPO / "examples" / "docker" / "cpa-config.yaml",
    ],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_the_shipped_configs_pass(path: Path) -> None:
    assert problems(_config_of(path)) == []


_JSON_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


def schema_errors(
    value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = ""
) -> list[str]:
    """The JSON Schema 2020-12 keywords the published schema uses, checked as an editor
    would (a small validator: the project has no JSON Schema library)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return schema_errors(value, root["$defs"][name], root, at)
    errors: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        fits = [
            k
            for k in kinds
            if isinstance(value, _JSON_TYPES[k])
            and not (k in ("integer", "number") and isinstance(value, bool))
        ]
        if not fits:
            return [f"{at}: not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: not in enum")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{at}: does not match")
    if "minimum" in schema and isinstance(value, int) and value < schema["minimum"]:
        errors.append(f"{at}: below minimum")
    if "maximum" in schema and isinstance(value, int) and value > schema["maximum"]:
        errors.append(f"{at}: above maximum")
    if "anyOf" in schema and all(schema_errors(value, s, root, at) for s in schema["anyOf"]):
        errors.append(f"{at}: matches no anyOf")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{at}: too few items")
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), root, f"{at}[{index}]")
    if isinstance(value, dict):
        errors += [
            f"{at}.{key}: required" for key in schema.get("required", ()) if key not in value
        ]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], root, f"{at}.{key}")
            elif extra is False:
                errors.append(f"{at}.{key}: additional property")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, root, f"{at}.{key}")
    if "if" in schema:
        branch = "then" if not schema_errors(value, schema["if"], root, at) else "else"
        errors += schema_errors(value, schema.get(branch, {}), root, at)
    return errors


def validate_against_schema(text: str) -> list[str]:
    schema = desired_state_schema()
    return schema_errors(YAML(typ="safe").load(text), schema, schema)


def test_the_schema_passes_the_shipped_desired_states() -> None:
    for path in (
        REPO / "examples" / "desired-state" / "desired-state.yaml",
        REPO / "reconciler" / "demo_data" / "desired-state.yaml",
    ):
        assert validate_against_schema(path.read_text(encoding="utf-8")) == [], path


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("config: {request-retry: 2, routing: {strategy: rr}}", True),
        ("config: {reqest-retry: 2}", False),  # unknown keys are marked...
        ("config: {routing: {stratgy: rr}}", False),
        ("config: {gemini-api-key: [{weigth: 1}]}", False),
        # ...except when config-policy.allow-unknown-keys lists any pattern: the schema cannot
        # match the globs, and a valid file must not show as wrong
        ("config: {reqest-retry: 2}\nconfig-policy: {allow-unknown-keys: [reqest-retry]}", True),
        ("config: {routing: {x: 1}}\nconfig-policy: {allow-unknown-keys: [routing.x]}", True),
        ("config: {x: 1}\nconfig-policy: {allow-unknown-keys: []}", False),
        # types are checked in both cases
        ('config: {debug: "false"}', False),
        ('config: {debug: "false"}\nconfig-policy: {allow-unknown-keys: [x]}', False),
        ("config: {request-retry: three}", False),
        ("config: {port: ${env:PORT}}", False),  # a reference is a string (refused too)
        ("config: {host: 1, api-keys: [${env:K}], debug: null}", True),
        ("config: {gemini-api-key: [{weight: 2000000}]}", False),
        ("config: {credential-concurrency: {reclaim-grace: 5s, cleanup-interval: 5}}", True),
        ("config: {credential-in-flight: {stale-after: 10 s}}", False),
        ("config: {disable-image-generation: chat}", True),
        ("config: {plugins: {configs: {p: {enabled: true, anything: [1]}}}}", True),
    ],
)
def test_the_schema_marks_what_the_loader_refuses(project: Project, text: str, valid: bool) -> None:
    text = text.replace("${env:PORT}", '"${env:PORT}"').replace("[${env:K}]", '["${env:K}"]')
    assert (validate_against_schema(text) == []) is valid
    try:
        project.load(text, environ={"PORT": "8317", "K": "k"})
    except DesiredStateError:
        assert not valid
    else:
        assert valid
