"""``reconciler export``: bootstrap a desired-state file from a live CPA, secrets as references."""

from __future__ import annotations

import argparse
import datetime
import hmac
import io
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reconciler import errors
from reconciler.commands import options
from reconciler.core import cpa_config_keys, normalize, secrets
from reconciler.core.model import LiveAuthFile, Path
from reconciler.desired import references, yaml_io
from reconciler.pipeline import config_document, live, planning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "fleet",
        metavar="FLEET",
        nargs="?",
        help="a fleet file (targets:): export every target's live state into one fleet file "
        "(the shared config, per-target differences in target-config, each auth file pinned "
        "to the target it is on); without it, the one server of --url / CPA_URL",
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        help="also write the current value of every ${env:...} variable to FILE (mode 0600; "
        "load it with `set -a; . FILE; set +a`), so the first plan works at once",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing --env-file")
    parser.add_argument(
        "--all",
        action="store_true",
        help="keep the defaults CPA appends to config.yaml on every web-UI save (ws-auth, "
        "credential-concurrency, ...), left out by default",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where to keep the record of failed key attempts (default: ./.reconciler)",
    )
    options.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.env_file and not args.force and os.path.lexists(args.env_file):
        raise errors.UsageError(
            f"--env-file {args.env_file}: the file exists; pass --force to overwrite it"
        )
    if args.fleet:
        from reconciler.commands import export_fleet

        return export_fleet.run(args)
    url = args.url or os.environ.get("CPA_URL")
    if not url:
        raise errors.UsageError("no target url: pass --url or set CPA_URL")
    planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
    target = planning.Target(
        url, options.key_without_desired_file(args), args.ca_cert, args.timeout
    )
    with options.client_for(target, options.state_dir_without_desired_file(args)) as client:
        config_text = client.get_config_yaml()
        config = config_document.parse(config_text)
        files = [live.to_live_auth_file(f) for f in client.list_auth_file_summaries()]
    if not args.all:
        config = _without_appended_defaults(config)
    namer = _Namer(target.fingerprint_key, _scalar_texts(config_text))
    doc = {
        "target": {"url": url, "management-key": "${env:" + ENV_KEY + "}"},
        "config": _replace_secrets((), config, namer, ()),
        "config-policy": _config_policy(config),
        "auth-files": {
            "prune": False,
            "protect": [],
            "max-deletions": 5,
            "files": [_file_entry(f) for f in sorted(files, key=lambda f: f.name)],
        },
    }
    write_out(args, _dump(doc), namer, [f"{ENV_KEY}  (the management key, or {ENV_KEY}_FILE)"])
    return 0


def write_out(args: argparse.Namespace, text: str, namer: _Namer, keys: list[str]) -> None:
    """The exported file (``--output`` or stdout), the ``--env-file``, and on stderr the
    variables to set (``keys``: the management key(s), then each ``${env:...}``)."""
    if args.output:
        _write_output(args.output, text)
    else:
        sys.stdout.write(text)
    if args.env_file:
        _write_env_file(args.env_file, namer.values)
        print(
            f"Wrote the current value of {len(namer.values)} variable(s) to {args.env_file} "
            "(mode 0600); load them with: set -a; . " + shlex.quote(args.env_file) + "; set +a",
            file=sys.stderr,
        )
        print(
            "The management key is not in it: give it as for export "
            + (
                "(the variables of targets:)."
                if args.fleet
                else f"({ENV_KEY}, {ENV_KEY}_FILE or --management-key-file)."
            ),
            file=sys.stderr,
        )
    print("Set these environment variables before plan/apply:", file=sys.stderr)
    for line in keys:
        print(f"  {line}", file=sys.stderr)
    for name, where in namer.where.items():
        print(f"  {name}  ({where})", file=sys.stderr)


ENV_KEY = "CPA_MANAGEMENT_KEY"
SECRET_KEY_PATH: Path = ("remote-management", "secret-key")

# The top-level keys CPA v7.2.140 appends to config.yaml, with its defaults, on every per-field
# (web UI) save (reconciler.emulator.defaults.APPENDED_DEFAULTS records what it appends). Their
# default values are left out of an export unless --all: they are CPA's, not the operator's, and
# a missing key whose value would be the default is never drift.
APPENDED_ON_SAVE = (
    "credential-concurrency",
    "credential-in-flight",
    "redis-usage-queue-retention-seconds",
    "ws-auth",
)


def _without_appended_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the values CPA appends on a save that still hold CPA's default (a
    block keeps the entries that differ)."""
    kept: dict[str, Any] = {}
    for key, value in config.items():
        if key not in APPENDED_ON_SAVE:
            kept[key] = value
        elif isinstance(value, dict):
            rest = {k: v for k, v in value.items() if not normalize.is_default((key, str(k)), v)}
            if rest:
                kept[key] = rest
        elif not normalize.is_default((key,), value):
            kept[key] = value
    return kept


def _config_policy(config: dict[str, Any]) -> dict[str, Any]:
    """The live config's keys CPA v7.2.140 does not know (a newer CPA's, or a typo someone
    made there) are allowed by name, so the exported file validates as it is."""
    policy: dict[str, Any] = {"prune": False, "ignore": []}
    unknown = cpa_config_keys.unknown_key_patterns(config)
    if unknown:
        policy["allow-unknown-keys"] = unknown
    return policy


def _write_output(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise errors.UsageError(
            f"--output {path}: cannot write it ({exc.strerror or type(exc).__name__})"
        ) from exc


def _write_env_file(path: str, values: dict[str, str]) -> None:
    """``NAME='value'`` lines (POSIX shell quoting) in a file only its owner can read: made
    0600 before anything is written, never through a symbolic link."""
    lines = [
        "# Written by `reconciler export --env-file`: the current value of every ${env:...}",
        "# variable of the exported desired state. Secrets: keep this file out of git.",
        "# Load it with: set -a; . THIS_FILE; set +a",
        *(f"{name}={shlex.quote(value)}" for name, value in values.items()),
    ]
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fd = -1
                fh.write("\n".join(lines) + "\n")
        finally:
            if fd >= 0:
                os.close(fd)
    except OSError as exc:
        raise errors.UsageError(
            f"--env-file {path}: cannot write it ({exc.strerror or type(exc).__name__})"
        ) from exc


class _Namer:
    """Names for the exported ``${env:...}`` variables, derived from what each secret is, not
    from where it stands in a list: removing an entry must not rename the others' variables.

    A list entry is named by its ``name``, else the host of its ``base-url``, when that is
    unique in the list; otherwise (and for a list of plain keys, such as ``api-keys``) by a
    short fingerprint of its key: 6 hex digits of an HMAC keyed by the management key, so the
    name tells nothing about the value. ``values`` keeps each variable's value as CPA reads it
    (the text of the scalar in config.yaml), for ``--env-file``."""

    def __init__(self, key: bytes, texts: Mapping[Path, str]) -> None:
        self.key = key
        self.texts = texts
        self.where: dict[str, str] = {}
        self.values: dict[str, str] = {}

    def fingerprint(self, value: Any) -> str:
        text = value if isinstance(value, str) else repr(value)
        digest = hmac.new(self.key, b"cpa-reconciler/export-name/v1\0" + text.encode(), "sha256")
        return digest.hexdigest()[:6].upper()

    def entry_labels(self, items: list[Any]) -> list[str]:
        """One label per list entry (see the class docstring)."""
        own = [_entry_label(item) for item in items]
        labels = []
        for item, label in zip(items, own, strict=True):
            if label and own.count(label) == 1:
                labels.append(label)
            else:
                identity = item.get("api-key") if isinstance(item, dict) else item
                if isinstance(item, dict) and not identity:
                    identity = json.dumps(item, sort_keys=True, default=str)
                fp = self.fingerprint(identity)
                labels.append(f"{label}_{fp}" if label else fp)
        return labels

    def name(self, path: Path, labels: tuple[str, ...], value: Any) -> str:
        base = "CPA_" + re.sub(r"[^A-Z0-9]+", "_", "_".join(labels).upper()).strip("_")
        name, n = base, 1
        while name in self.where:  # two paths may spell the same name (a-b, a_b)
            n += 1
            name = f"{base}_{n}"
        self.where[name] = "value of " + ".".join(str(p) for p in path)
        self.values[name] = self.texts.get(path, value if isinstance(value, str) else str(value))
        return name


def _entry_label(item: Any) -> str:
    if not isinstance(item, dict):
        return ""
    name = item.get("name")
    if isinstance(name, str) and name.strip():
        return name
    base_url = item.get("base-url")
    if isinstance(base_url, str) and base_url:
        try:
            host = urlsplit(base_url).hostname or ""
        except ValueError:
            host = ""
        return host
    return ""


def _scalar_texts(text: str) -> dict[Path, str]:
    """Every scalar of config.yaml by its path, as written (a bare ``0x1F`` is ``"0x1F"``):
    what CPA reads into a string field, which is what a variable must hold."""
    found: dict[Path, str] = {}
    try:
        root = yaml_io.compose(text)
    except Exception:  # already parsed once: this cannot fail, and is only a refinement
        return found
    stack: list[tuple[Path, Any]] = [((), root)] if root is not None else []
    while stack:
        path, node = stack.pop()
        if isinstance(node, ScalarNode):
            found[path] = str(node.value)
        elif isinstance(node, MappingNode):
            for key, item in node.value:
                if isinstance(key, ScalarNode) and key.value != "<<":
                    stack.append(((*path, str(key.value)), item))
        elif isinstance(node, SequenceNode):
            stack.extend(((*path, i), item) for i, item in enumerate(node.value))
    return found


def _replace_secrets(path: Path, value: Any, namer: _Namer, labels: tuple[str, ...]) -> Any:
    if path == SECRET_KEY_PATH and value:
        # The key the reconciler authenticates with, wherever it comes from: one file serves
        # cron (a key file), CI (a secret variable) and the daemon.
        return references.MANAGEMENT_KEY
    if isinstance(value, dict):
        return {
            k: _replace_secrets((*path, str(k)), v, namer, (*labels, str(k)))
            for k, v in value.items()
        }
    if isinstance(value, list):
        entry_labels = namer.entry_labels(value)
        return [
            _replace_secrets((*path, i), v, namer, (*labels, entry_labels[i]))
            for i, v in enumerate(value)
        ]
    if _is_value(value) and secrets.is_secret_path(path, value):
        return "${env:" + namer.name(path, labels, value) + "}"
    return _literal(value)


def _is_value(value: Any) -> bool:
    """A scalar worth hiding: a non-empty string, or a number or a timestamp written bare (an
    API key may be all digits; CPA reads any bare scalar in a string field as its text)."""
    if isinstance(value, bool):
        return False
    return (isinstance(value, str) and value != "") or isinstance(
        value, int | float | datetime.date
    )


def _literal(value: Any) -> Any:
    """``value`` written so that the desired-state loader reads it back as it is: a ``${`` in
    a string is escaped, or it would be read as a reference. The YAML dumper quotes strings
    that would otherwise read as another type (``"0123"``, ``"true"``, ``"~"``), but writes
    a NEL (U+0085) raw in a single-quoted string, where it reads back as a line break: such a
    string is written double-quoted, the NEL escaped."""
    if isinstance(value, str):
        escaped = references.escape(value)
        return DoubleQuotedScalarString(escaped) if "\x85" in escaped else escaped
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


def _file_entry(f: LiveAuthFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f.name, "disabled": f.disabled}
    if f.listed:
        entry["fields"] = _literal(dict(sorted(f.listed.items())))
    return entry


def _dump(doc: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    out.write(
        "# Exported by `reconciler export`. Secrets are ${env:...} references; the secret-key\n"
        "# is ${management-key}, the key the reconciler authenticates with.\n"
    )
    yaml.dump(doc, out)
    return out.getvalue()
