"""Helpers for the desired-state loader tests: a project directory and secret values."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.desired.loader import LoadedDesired, load_desired

# Values the loader may read but must never print.
SECRETS = {
    "CPA_MANAGEMENT_KEY": "S3CRET-management-key",
    "CLIENT_KEY_1": "S3CRET-client-key-1",
    "CLIENT_KEY_2": "S3CRET-client-key-2",
}
SOURCE_TOKEN = "S3CRET-access-token"
FILE_SECRET = "S3CRET-from-file"


@dataclass
class Project:
    """A directory holding a desired-state file and the files it names."""

    root: Path
    environ: dict[str, str] = field(default_factory=lambda: dict(SECRETS))

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def write_json(self, relative: str, value: Any) -> Path:
        return self.write(relative, json.dumps(value))

    def source(self, relative: str, **extra: Any) -> Path:
        """A typical auth-file source holding a token."""
        body = {"type": "codex", "access_token": SOURCE_TOKEN, "email": "a@example.com", **extra}
        return self.write_json(relative, body)

    def load(
        self, text: str, *, name: str = "desired.yaml", environ: Mapping[str, str] | None = None
    ) -> LoadedDesired:
        self.write(name, text)
        return load_desired(name, environ=self.environ if environ is None else environ)


def marked_line(text: str, marker: str = "# <-") -> int:
    """The 1-based line of ``text`` (dedented as Project.write does) that holds ``marker``."""
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    found = [number for number, line in enumerate(lines, start=1) if marker in line]
    assert len(found) == 1, f"expected one {marker!r} marker, found {len(found)}"
    return found[0]
