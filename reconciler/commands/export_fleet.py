"""``reconciler export FLEET``: one fleet file from every target's live state.

FLEET is a fleet file (``targets:``; the rest of it is not read): each target's url and
management-key, as written there, are kept. Every target is read (in parallel, bounded); one
that cannot be read makes the export fail (exit 1, nothing written): a fleet file missing a
server's credentials would move or create them elsewhere.

What is written:

* ``targets``: as in FLEET (url, management-key as written, weight and drain when set);
* ``config``: what every target's config has in common (mappings compared key by key, anything
  else, lists included, as a whole), and ``target-config``: per target what differs from it, so
  that ``config`` deep-merged with a target's override is exactly that target's live config.
  ``remote-management.secret-key`` is ``${management-key}`` (bound per target to its own key).
  Secrets are ``${env:...}`` references: in ``config`` named as a single export names them,
  in an override prefixed by the target's name;
* ``auth-files``: ``placement: pinned``, every live file pinned (``target:``) to the server it is
  on, with its ``disabled`` and listed fields. A file name live on two servers is pinned to the
  first and reported on stderr (the plan shows it as a duplicate credential: resolve it there).

The round trip holds: ``plan`` on the exported file shows no change.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.commands import export, options
from reconciler.core import cpa_config_keys
from reconciler.core.model import LiveAuthFile
from reconciler.desired import fleet, references
from reconciler.desired.yaml_io import read_yaml
from reconciler.pipeline import config_document, live
from reconciler.pipeline import fleet as pfleet

_KEPT_TARGET_KEYS = ("url", "management-key", "weight", "drain")


def run(args: argparse.Namespace) -> int:
    path = Path(args.fleet)
    loaded = fleet.load_any(path, environ=os.environ)
    if not isinstance(loaded, fleet.LoadedFleet):
        raise errors.UsageError(
            f"{args.fleet} is not a fleet file (targets:); to export one server, give its "
            "--url (or CPA_URL) and no file"
        )
    targets = pfleet.targets_for(loaded, options.target_options(args))
    names = loaded.fleet.names
    state_dir = options.state_dir(args, path)
    reads: dict[str, tuple[str, list[LiveAuthFile]]] = {}
    failures: dict[str, str] = {}

    def one(client: ManagementClient) -> tuple[str, list[LiveAuthFile]]:
        text = client.get_config_yaml()
        return text, [live.to_live_auth_file(f) for f in client.list_auth_file_summaries()]

    with (
        pfleet.clients_for(loaded, targets, state_dir) as clients,
        ThreadPoolExecutor(max_workers=min(pfleet.MAX_WORKERS, len(clients))) as pool,
    ):
        futures = {name: pool.submit(one, clients[name]) for name in names}
        for name, future in futures.items():
            try:
                reads[name] = future.result()
            except errors.ReconcilerError as exc:
                failures[name] = str(exc)
    if failures:
        raise errors.ApiError(
            "nothing was exported: "
            + "; ".join(f"target {n} could not be read: {why}" for n, why in failures.items())
        )
    doc, namer = _document(args, read_yaml(path).data["targets"], names, reads, targets)
    text = export._dump(doc).replace(
        "the key the reconciler authenticates with.",
        "per target that target's own key.",
        1,
    )
    keys = [
        f"{loaded_ref}  (target {n}'s management key)"
        for n in names
        if (loaded_ref := _env_of(doc["targets"][n].get("management-key")))
    ]
    export.write_out(args, text, namer, keys)
    return 0


def _env_of(reference: Any) -> str:
    if isinstance(reference, str) and reference.startswith("${env:") and reference.endswith("}"):
        return reference[len("${env:") : -1]
    return ""


def _document(
    args: argparse.Namespace,
    written: Mapping[str, Any],
    names: tuple[str, ...],
    reads: Mapping[str, tuple[str, list[LiveAuthFile]]],
    targets: Mapping[str, Any],
) -> tuple[dict[str, Any], export._Namer]:
    configs: dict[str, dict[str, Any]] = {}
    for name in names:
        config = config_document.parse(reads[name][0])
        if not args.all:
            config = export._without_appended_defaults(config)
        configs[name] = _with_key_reference(config)
    common = _common([configs[n] for n in names])
    first = names[0]
    namer = export._Namer(targets[first].fingerprint_key, export._scalar_texts(reads[first][0]))
    shared = export._replace_secrets((), common, namer, ())
    overrides: dict[str, Any] = {}
    for name in names:
        rest = _difference(configs[name], common)
        if rest:
            namer.texts = export._scalar_texts(reads[name][0])
            overrides[name] = export._replace_secrets((), rest, namer, (name,))
    out_targets: dict[str, Any] = {}
    for name in names:
        given = written.get(name)
        spec: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        out_targets[name] = {k: spec[k] for k in _KEPT_TARGET_KEYS if k in spec}
    doc: dict[str, Any] = {"targets": out_targets, "config": shared}
    if overrides:
        doc["target-config"] = overrides
    policy: dict[str, Any] = {"prune": False, "ignore": []}
    unknown = {p: None for n in names for p in cpa_config_keys.unknown_key_patterns(configs[n])}
    if unknown:
        policy["allow-unknown-keys"] = list(unknown)
    doc["config-policy"] = policy
    doc["auth-files"] = {
        "placement": "pinned",
        "prune": False,
        "protect": [],
        "max-deletions": 5,
        "files": _files(names, reads),
    }
    return doc, namer


def _with_key_reference(config: dict[str, Any]) -> dict[str, Any]:
    """The live secret-key (a bcrypt hash, different on every server) as ``${management-key}``,
    so that it is shared, and bound per target to that target's key."""
    rm = config.get("remote-management")
    if isinstance(rm, dict) and rm.get("secret-key"):
        return {**config, "remote-management": {**rm, "secret-key": references.MANAGEMENT_KEY}}
    return config


def _common(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """What every config has: a key all have, with an equal value, or mappings in all (their
    common part, recursively); anything else differs."""
    out: dict[str, Any] = {}
    head, rest = configs[0], configs[1:]
    for key, value in head.items():
        others = [c.get(key, _MISSING) for c in rest]
        if any(o is _MISSING for o in others):
            continue
        if isinstance(value, dict) and all(isinstance(o, dict) for o in others):
            out[key] = _common([value, *others])
        elif all(_same(value, o) for o in others):
            out[key] = value
    return out


def _difference(config: dict[str, Any], common: Mapping[str, Any]) -> dict[str, Any]:
    """What ``config`` needs over ``common`` (deep-merged: mappings merge, the rest replaces)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key not in common:
            out[key] = value
        elif isinstance(value, dict) and isinstance(common[key], dict):
            rest = _difference(value, common[key])
            if rest:
                out[key] = rest
        elif not _same(value, common[key]):
            out[key] = value
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


class _Missing:
    pass


_MISSING: Any = _Missing()


def _files(
    names: tuple[str, ...], reads: Mapping[str, tuple[str, list[LiveAuthFile]]]
) -> list[dict[str, Any]]:
    """Every live auth file, pinned to the target it is on (file order: target, then name)."""
    where: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for name in names:
        for f in sorted(reads[name][1], key=lambda f: f.name):
            if f.name in where:
                print(
                    f"warning: {f.name} is live on {where[f.name]} and {name}: exported pinned "
                    f"to {where[f.name]}; the plan shows the duplicate credential",
                    file=sys.stderr,
                )
                continue
            where[f.name] = name
            entry = export._file_entry(f)
            out.append({"name": entry.pop("name"), "target": name, **entry})
    return out
