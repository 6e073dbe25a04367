"""Every YAML example in the README, docs/ and examples/ READMEs parses (a reader copies them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("examples/**/*.md")),
]
BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.M | re.S)


def blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for n, match in enumerate(BLOCK.finditer(doc.read_text(encoding="utf-8")), 1):
            found.append((f"{doc.relative_to(ROOT)}#{n}", match.group(1)))
    return found


@pytest.mark.parametrize(("where", "text"), blocks(), ids=[w for w, _ in blocks()])
def test_yaml_example_parses(where: str, text: str) -> None:
    YAML(typ="safe", pure=True).load(text)


def test_there_are_examples_to_check() -> None:
    assert blocks(), "the README has a desired-state example"
