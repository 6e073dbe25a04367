"""A fleet of emulators for the fleet tests: three CPA emulators, each with its own key, and a
desired-state project whose ``targets:`` name them.

``FleetWorld.where()`` reads each emulator's auth directory (the server's own state, not the
reconciler's view): file name -> the targets holding it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from e2e_helpers import Project, auth_source, dump_yaml

from reconciler.emulator import Emulator

NAMES = ("eu-1", "eu-2", "us-1")


def key_of(name: str) -> str:
    return f"fleet-key-{name}-PLANTED"


def env_of(name: str) -> str:
    return "CPA_KEY_" + name.upper().replace("-", "_")


@dataclass
class FleetWorld:
    project: Project
    emus: dict[str, Emulator]
    files: list[str] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        project: Project,
        factory: Callable[..., Emulator],
        monkeypatch: pytest.MonkeyPatch,
        names: Iterable[str] = NAMES,
        n_files: int = 30,
    ) -> FleetWorld:
        emus = {n: factory(management_key=key_of(n)) for n in names}
        for n in emus:
            monkeypatch.setenv(env_of(n), key_of(n))
        world = cls(project, emus)
        for i in range(n_files):
            name = f"claude-user{i:02d}@example.com.json"
            project.source(f"auth/{name}", auth_source(f"user{i:02d}@example.com", "claude"))
            world.files.append(name)
        return world

    def doc(
        self,
        *,
        drain: Iterable[str] = (),
        pins: Mapping[str, str] | None = None,
        max_deletions: int = 50,
        placement: str = "spread",
        **extra: Any,
    ) -> dict[str, Any]:
        pins = dict(pins or {})
        targets: dict[str, Any] = {}
        for n, emu in self.emus.items():
            targets[n] = {"url": emu.url, "management-key": "${env:" + env_of(n) + "}"}
            if n in drain:
                targets[n]["drain"] = True
        files = []
        for f in self.files:
            entry: dict[str, Any] = {"name": f, "source": f"auth/{f}"}
            if f in pins:
                entry["target"] = pins[f]
            files.append(entry)
        return {
            "targets": targets,
            **extra,
            "auth-files": {"placement": placement, "max-deletions": max_deletions, "files": files},
        }

    def write(self, **kwargs: Any) -> str:
        path = self.project.write(dump_yaml(self.doc(**kwargs)))
        return str(path)

    def where(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for n, emu in self.emus.items():
            for p in sorted(emu.auth_dir.glob("*.json")):
                out.setdefault(p.name, []).append(n)
        return out

    def content(self, target: str, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.emus[target].auth_dir / name).read_bytes())
        return data

    def mutations(self) -> int:
        return sum(len(e.mutating_requests()) for e in self.emus.values())
