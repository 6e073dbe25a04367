"""``reconciler export``: bootstrap a desired-state file from a live CPA, secrets as references."""

from __future__ import annotations

import argparse
import datetime
import io
import re
import sys
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reconciler import errors
from reconciler.commands import options
from reconciler.core import cpa_config_keys, secrets
from reconciler.core.model import LiveAuthFile, Path
from reconciler.desired import references
from reconciler.pipeline import config_document, live, planning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where to keep the record of failed key attempts (default: ./.reconciler)",
    )
    options.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import os

    url = args.url or os.environ.get("CPA_URL")
    if not url:
        raise errors.UsageError("no target url: pass --url or set CPA_URL")
    planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
    target = planning.Target(
        url, options.key_without_desired_file(args), args.ca_cert, args.timeout
    )
    with options.client_for(target, options.state_dir_without_desired_file(args)) as client:
        config = config_document.parse(client.get_config_yaml())
        files = [live.to_live_auth_file(f) for f in client.list_auth_file_summaries()]
    variables: dict[str, str] = {"CPA_MANAGEMENT_KEY": "the management key"}
    doc = {
        "target": {"url": url, "management-key": "${env:CPA_MANAGEMENT_KEY}"},
        "config": _replace_secrets((), config, variables),
        "config-policy": _config_policy(config),
        "auth-files": {
            "prune": False,
            "protect": [],
            "max-deletions": 5,
            "files": [_file_entry(f) for f in sorted(files, key=lambda f: f.name)],
        },
    }
    text = _dump(doc)
    if args.output:
        _write_output(args.output, text)
    else:
        sys.stdout.write(text)
    print("Set these environment variables before plan/apply:", file=sys.stderr)
    for name, where in variables.items():
        print(f"  {name}  ({where})", file=sys.stderr)
    return 0


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


def _env_name(path: Path) -> str:
    parts = [str(p) for p in path]
    return "CPA_" + re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def _replace_secrets(path: Path, value: Any, variables: dict[str, str]) -> Any:
    if path == ("remote-management", "secret-key") and value:
        variables.setdefault("CPA_MANAGEMENT_KEY", "the management key")
        return "${env:CPA_MANAGEMENT_KEY}"
    if isinstance(value, dict):
        return {k: _replace_secrets((*path, str(k)), v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secrets((*path, i), v, variables) for i, v in enumerate(value)]
    if _is_value(value) and secrets.is_secret_path(path, value):
        where = "value of " + ".".join(str(p) for p in path)
        name = base = _env_name(path)
        n = 1
        while name in variables:  # two paths may spell the same name (a-b, a_b)
            n += 1
            name = f"{base}_{n}"
        variables[name] = where
        return "${env:" + name + "}"
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
    out.write("# Exported by `reconciler export`. Secrets are ${env:...} references.\n")
    yaml.dump(doc, out)
    return out.getvalue()
