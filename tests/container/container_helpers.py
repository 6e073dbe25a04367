"""Readers for the container files: the Dockerfile, .dockerignore and the example manifests.

This machine cannot run Docker, so the tests read the Dockerfile the way the builder does
(continuation lines joined, comments dropped, one instruction per logical line, stages split
at FROM) and replay its install steps outside Docker. Nothing here imports the daemon.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
EXAMPLES = REPO / "examples"
COMPOSE_FILE = EXAMPLES / "docker-compose.yml"
COMPOSE_ENV_EXAMPLE = EXAMPLES / "docker-compose.env.example"
KUBERNETES = EXAMPLES / "kubernetes"

ENV_REFERENCE = re.compile(r"(?<!\$)\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


# -- Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the logical line, continuations joined with a space
    line: int  # where it starts (1-based)

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form instruction (CMD, ENTRYPOINT, VOLUME, ...)."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value

    def flags_and_rest(self) -> tuple[list[str], str]:
        """Leading ``--flag=value`` options (RUN --mount, HEALTHCHECK --interval) and the rest."""
        flags: list[str] = []
        rest = self.args
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.lstrip()
        return flags, rest


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in stage {self.name or self.base}"
        return found[-1]


@dataclass
class Dockerfile:
    global_args: dict[str, str]  # ARG lines before the first FROM, with their defaults
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolve(self, text: str) -> str:
        """Substitute ``${NAME}`` from the global ARG defaults (as FROM lines see them)."""
        return re.sub(r"\$\{(\w+)\}", lambda m: self.global_args[m.group(1)], text)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Join continuation lines; drop comment and blank lines (also inside a continuation)."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(p for p in pending if p)
        pending = []
    assert not pending, "the Dockerfile ends inside a continuation line"


def parse_dockerfile(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, logical in logical_lines(text):
        keyword, _, args = logical.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), line)
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            assert instruction.keyword == "ARG", f"line {line}: only ARG may precede FROM"
            arg_name, _, default = instruction.args.partition("=")
            global_args[arg_name] = default
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args, stages)


def read_dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


def shell_words(instruction: Instruction) -> list[str]:
    """The words of a shell-form RUN, after its ``--mount``-style flags."""
    _flags, rest = instruction.flags_and_rest()
    return shlex.split(rest)


# -- .dockerignore ------------------------------------------------------------------------


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: ``*`` within one path segment, ``**`` across segments."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether ``path`` (relative, with /) is left out of the build context.

    As in Docker: the last matching pattern wins, ``!`` re-includes, and a pattern that
    matches a parent directory matches everything under it.
    """
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        regex = _dockerignore_regex(pattern.strip("/"))
        if any(regex.match(c) for c in candidates):
            excluded = not negated
    return excluded


def read_dockerignore() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# -- YAML -----------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def load_yaml_text(text: str) -> Any:
    return YAML(typ="safe").load(text)


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc is not None]


def kubernetes_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            objects.extend(load_yaml_documents(path))
    return objects


def kubernetes_object(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in kubernetes_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    spec = deployment["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == name)


def env_references(text: str) -> set[str]:
    """The NAMEs of every ``${env:NAME}`` in the values of a desired-state YAML text
    (comments do not count; ``$${`` is a literal)."""
    names: set[str] = set()
    for _path, value in walk_strings(load_yaml_text(text)):
        names.update(ENV_REFERENCE.findall(value))
    return names


def compose_volume(spec: str) -> tuple[str, str, str | None]:
    """A short-syntax compose volume ``SOURCE:TARGET[:MODE]`` as (source, target, mode);
    the source may hold ``${VAR:-default}``."""
    placeholders: list[str] = []

    def hide(match: re.Match[str]) -> str:
        placeholders.append(match.group(0))
        return f"\0{len(placeholders) - 1}\0"

    source, target, *mode = re.sub(r"\$\{[^}]*\}", hide, spec).split(":")
    source = re.sub(r"\0(\d+)\0", lambda m: placeholders[int(m.group(1))], source)
    return source, target, (mode[0] if mode else None)


def walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string scalar in a parsed YAML tree, with a dotted path to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node
