"""What the server must hold after an apply, checked without the reconciler's own rules.

"plan is empty after apply" proves only that the reconciler agrees with itself: a diff that
sees nothing (``values_equal`` always true) or an apply that never updates a file passes it.
These checks read the emulator's config.yaml and auth files directly and compare them with the
desired state using rules written here, independently of ``reconciler.core``: CPA's spellings
(``rr`` is ``round-robin``, ``2000ms`` is ``2s``), its case-insensitive excluded models, its
bcrypt-hashed secret-key, its legacy kebab field names.

Each function returns a list of mismatches (empty when the server holds the desired state), so a
failing test prints all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import bcrypt
from ruamel.yaml import YAML

STRATEGY_ALIASES = {
    "rr": "round-robin",
    "roundrobin": "round-robin",
    "wrr": "weighted-round-robin",
    "ff": "fill-first",
    "fillfirst": "fill-first",
}
LEGACY_FIELD = {"proxy_url": "proxy-url", "request_retry": "request-retry"}
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(text: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert "".join(n + u for n, u in parts) == text, f"not a Go duration: {text!r}"
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _same(path: str, want: Any, have: Any) -> bool:
    leaf = path.rsplit(".", 1)[-1]
    if leaf == "strategy" and isinstance(want, str):
        have = "round-robin" if have in (None, "") else have  # CPA's default strategy
        return isinstance(have, str) and STRATEGY_ALIASES.get(want, want) == STRATEGY_ALIASES.get(
            have, have
        )
    if leaf in ("snapshot-interval", "stale-after") and isinstance(want, str):
        return isinstance(have, str) and _seconds(want) == _seconds(have)
    if leaf == "excluded-models" and isinstance(want, list):
        return isinstance(have, list) and {m.lower() for m in want} == {m.lower() for m in have}
    if leaf == "api-keys" and isinstance(want, list):
        return isinstance(have, list) and sorted(want) == sorted(have)
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            _same(f"{path}.{k}", v, have.get(k)) for k, v in want.items()
        )
    if isinstance(want, list) and want and isinstance(want[0], Mapping):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(_same(path, w, h) for w, h in zip(want, have, strict=True))
        )
    if want in ("", 0, False, [], None) and have is None:
        return True  # CPA leaves a zero value out of the file
    return bool(want == have and type(want) is type(have))


def config_mismatches(
    config_json: Mapping[str, Any],
    config_yaml: str,
    desired: Mapping[str, Any],
    *,
    ignore: Sequence[str] = (),
    management_key: str | None = None,
) -> list[str]:
    """Each declared config value the server does not hold.

    Values are read from ``GET /config`` (CPA's own parse of config.yaml, its defaults filled in:
    a ``ws-auth`` left out of the file is ``true``); ``remote-management``, which GET /config
    leaves out, from config.yaml itself.
    """
    live = dict(config_json)
    live_yaml = YAML(typ="safe", pure=True).load(config_yaml) or {}
    live["remote-management"] = live_yaml.get("remote-management") or {}  # GET /config hides it
    problems = []
    for key, want in desired.items():
        if key in ignore:
            continue
        have = live.get(key)
        if isinstance(want, Mapping):
            have = have or {}
            for sub, sub_want in want.items():
                path = f"{key}.{sub}"
                if path in ignore:
                    continue
                sub_have = have.get(sub)
                if path == "remote-management.secret-key":
                    if not _key_opens(sub_have, management_key):
                        problems.append(f"{path}: the stored hash does not open the desired key")
                elif not _same(path, sub_want, sub_have):
                    problems.append(f"{path}: want {sub_want!r}, server has {sub_have!r}")
        elif not _same(key, want, have):
            problems.append(f"{key}: want {want!r}, server has {have!r}")
    return problems


def _key_opens(stored: Any, key: str | None) -> bool:
    if not isinstance(stored, str) or key is None:
        return False
    if stored.startswith("$2"):
        return bcrypt.checkpw(key.encode(), stored.encode())
    return stored == key


def auth_file_mismatches(
    stored: Mapping[str, Mapping[str, Any]],
    files: Sequence[Mapping[str, Any]],
    *,
    prune: bool,
) -> list[str]:
    """Each declared auth file, ``disabled`` flag or field the server's files do not hold; with
    ``prune``, each file the server holds that is not declared."""
    problems = []
    declared = {f["name"] for f in files}
    for entry in files:
        name = entry["name"]
        data = stored.get(name)
        if data is None:
            problems.append(f"{name}: not on the server")
            continue
        if "disabled" in entry and bool(data.get("disabled", False)) != entry["disabled"]:
            problems.append(
                f"{name}: disabled want {entry['disabled']}, has {data.get('disabled')}"
            )
        for field, want in (entry.get("fields") or {}).items():
            problems += _field_mismatches(name, data, field, want)
    if prune:
        problems += [
            f"{name}: not declared, still on the server" for name in stored if name not in declared
        ]
    return problems


def _field_mismatches(name: str, data: Mapping[str, Any], field: str, want: Any) -> list[str]:
    if field.startswith("headers."):
        header = field.split(".", 1)[1]
        have = (data.get("headers") or {}).get(header)
        return [] if have == want else [f"{name}: {field} want {want!r}, has {have!r}"]
    if field == "headers" and isinstance(want, Mapping):
        headers = data.get("headers") or {}
        return [
            f"{name}: headers.{h} want {v!r}, has {headers.get(h)!r}"
            for h, v in want.items()
            if headers.get(h) != v
        ]
    legacy = LEGACY_FIELD.get(field)
    have = data.get(field, data.get(legacy) if legacy else None)
    if want is None:
        return [] if have is None else [f"{name}: {field} want it removed, has {have!r}"]
    if have == want and type(have) is type(want):
        return []
    return [f"{name}: {field} want {want!r}, has {have!r}"]
