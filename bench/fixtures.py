"""What the benchmark runs against: generated auth files, desired-state files, a seeded emulator.

Auth files are written straight into the emulator's auth-dir before it starts (its start-up
scan registers them, as CPA's watcher does), so seeding 10,000 files costs no requests. The
desired-state file declares every file with its ``source``, ``disabled`` and the two policy
fields the listing shows (``priority``, ``note``), and a config whose ``api-keys`` list holds
every client key: a no-change plan must read all of it and find nothing to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator import Emulator

MANAGEMENT_KEY = "bench-management-key"
_API_KEYS_BLOCK = re.compile(r"^api-keys:\n(?:  - .*\n)*", re.MULTILINE)


def file_name(index: int) -> str:
    return f"codex-user{index:05d}@example.com.json"


def auth_content(index: int) -> dict[str, Any]:
    """A plausible OAuth credential with two listed policy fields (fake tokens)."""
    return {
        "type": "codex",
        "email": f"user{index:05d}@example.com",
        "access_token": f"bench-access-{index:05d}-" + "a" * 40,
        "refresh_token": f"bench-refresh-{index:05d}-" + "r" * 40,
        "id_token": f"bench-id-{index:05d}",
        "account_id": f"acct-{index:05d}",
        "expired": "2030-01-01T00:00:00Z",
        "priority": index % 9 + 1,
        "note": f"team-{index % 17}",
    }


def api_keys(count: int) -> list[str]:
    return [f"sk-bench-{index:05d}-{index * 7919 % 100003:06d}" for index in range(count)]


def write_auth_files(directory: Path, count: int, start: int = 0) -> None:
    write_auth_files_at(directory, range(start, start + count))


def write_auth_files_at(directory: Path, indices: Iterable[int]) -> None:
    """The auth files of the given indices (a fleet server holds those placed on it)."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in indices:
        data = json.dumps(auth_content(index)).encode("utf-8")
        (directory / file_name(index)).write_bytes(data)


def _config_lines(keys: int) -> list[str]:
    return ["config:", "  debug: false", "  api-keys:", *(f'    - "{k}"' for k in api_keys(keys))]


def _file_lines(files: int) -> list[str]:
    """``auth-files.files``: every file with its source, ``disabled`` and listed fields."""
    lines = ["  files:" if files else "  files: []"]
    for index in range(files):
        content = auth_content(index)
        lines += [
            f"    - name: {file_name(index)}",
            f"      source: auth/{file_name(index)}",
            "      disabled: false",
            f"      fields: {{priority: {content['priority']}, note: {content['note']}}}",
        ]
    return lines


def write_desired(directory: Path, *, files: int, keys: int, url: str) -> Path:
    """A desired-state file declaring ``files`` auth files and ``keys`` api-keys."""
    write_auth_files(directory / "auth", files)
    lines = [
        "target:",
        f"  url: {url}",
        "  management-key: ${env:CPA_MANAGEMENT_KEY}",
        *_config_lines(keys),
        "auth-files:",
        *_file_lines(files),
    ]
    path = directory / "desired-state.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_fleet_desired(directory: Path, *, files: int, keys: int, urls: Mapping[str, str]) -> Path:
    """A fleet file: ``targets:`` naming every server (each with the key in
    ``CPA_MANAGEMENT_KEY``), the same config as ``write_desired`` and ``files`` auth files of the
    same shape, placed by ``spread``."""
    write_auth_files(directory / "auth", files)
    lines = ["targets:"]
    for name, url in urls.items():
        lines += [f"  {name}:", f"    url: {url}", "    management-key: ${env:CPA_MANAGEMENT_KEY}"]
    lines += [*_config_lines(keys), "auth-files:", "  placement: spread", *_file_lines(files)]
    path = directory / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config_with_api_keys(config_yaml: str, keys: int) -> str:
    block = "api-keys:\n" + "".join(f'  - "{key}"\n' for key in api_keys(keys))
    text, found = _API_KEYS_BLOCK.subn(block, config_yaml, count=1)
    if not found:
        raise ValueError("the emulator's config.yaml has no api-keys block")
    return text


def warm_up(emulator: Emulator) -> None:
    """Read the config and the listing once, as a long-running CPA has long done."""
    headers = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
    with httpx.Client(base_url=emulator.management_url, headers=headers, timeout=120) as client:
        for path in ("/config.yaml", "/auth-files"):
            client.get(path).raise_for_status()


@contextmanager
def seeded_emulator(
    *, files: int, keys: int, auth_cost: float, indices: Iterable[int] | None = None
) -> Iterator[Emulator]:
    """A started emulator holding ``keys`` api-keys and the auth files ``0 .. files - 1`` (or
    those of ``indices``)."""
    emulator = Emulator(management_key=MANAGEMENT_KEY, auth_cost=auth_cost)
    write_auth_files_at(emulator.auth_dir, range(files) if indices is None else indices)
    with emulator:
        emulator.set_config_yaml(config_with_api_keys(emulator.config_yaml(), keys))
        warm_up(emulator)
        emulator.reset_requests()
        yield emulator
