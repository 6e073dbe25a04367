"""Loading a fleet file: ``targets:`` (several CPA servers) instead of ``target:``.

A fleet file is the single-target file with four additions: ``targets`` (name -> url,
management-key, weight, drain, and per-target prune/protect/max-deletions), ``target-config``
(per-target config deep-merged over ``config``: mappings merge, anything else, lists included,
replaces), ``auth-files.placement`` (``pinned``, the default: every file names its ``target``;
``spread``: files without a ``target`` are spread by rendezvous hashing) and a per-file
``target`` pin. It is parsed with the loader's machinery (YAML with lines, references, the
auth-file entry rules) into a ``core.fleet.FleetDesired``; every error names file:line.

``load_any`` is the entry of the commands that take either kind: a file with a top-level
``targets:`` line is loaded here, any other by ``loader.load_desired`` (a single-target file is
never parsed twice, and never changes behaviour).

As in a single-target file: ``config-file`` (the shared config from a file, instead of
``config``), ``${management-key}`` at ``remote-management.secret-key`` (in ``config``, the
config-file, or a ``target-config`` override; bound per target to **that target's** key), and
the offline check of every config key against CPA's list (``core.cpa_config_keys``, with
did-you-mean and ``config-policy.allow-unknown-keys``), applied to ``config`` and to each
``target-config`` override.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.core import fleet
from reconciler.core.model import (
    AuthFileEntrySpec,
    AuthFilesPolicy,
    AuthFilesSpec,
    ConfigPolicySpec,
    DesiredFile,
    DesiredState,
)
from reconciler.core.model import Path as ConfigPath
from reconciler.desired import loader, references
from reconciler.desired.file_kind import is_fleet_file
from reconciler.desired.yaml_io import YamlDocument, YamlPath, format_path, read_yaml
from reconciler.errors import DesiredStateError
from reconciler.gc_pause import gc_paused

__all__ = [
    "FleetFile",
    "LoadedFleet",
    "TargetEndpoint",
    "extend_schema",
    "is_fleet_file",
    "load_any",
    "load_fleet",
]

TARGET_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FleetTargetSpec(_Strict):
    """One CPA server of the fleet. Its name (the key) is its stable id."""

    url: str = Field(description="CPA origin, e.g. https://cpa-eu-1.example.com")
    management_key: str = Field(
        alias="management-key",
        description="This server's management key: ${env:NAME} or ${file:PATH}, never a literal.",
    )
    weight: float = Field(
        default=1.0, gt=0, description="Its share of spread files, relative to the others."
    )
    drain: bool = Field(
        default=False,
        description="Retire it: nothing is placed here and every managed credential on it is "
        "moved to the others (apply --allow-moves). Remove it from targets once it holds none.",
    )
    prune: bool | None = Field(default=None, description="auth-files.prune for this server.")
    protect: tuple[str, ...] | None = Field(
        default=None, description="auth-files.protect for this server."
    )
    max_deletions: int | None = Field(
        default=None,
        ge=0,
        alias="max-deletions",
        description="auth-files.max-deletions for this server (moves out of it count).",
    )


class FleetAuthFileEntrySpec(AuthFileEntrySpec):
    """An auth file of the fleet: ``target`` pins it to one server."""

    target: str | None = Field(
        default=None, description="The target this file lives on (a pin; never moved by spread)."
    )


class FleetAuthFilesSpec(AuthFilesSpec):
    placement: Literal["spread", "pinned"] = Field(
        default="pinned",
        description="pinned: every file names its target; spread: files without one are "
        "placed by rendezvous hashing over the targets (weighted, stable).",
    )
    files: tuple[FleetAuthFileEntrySpec, ...] = ()


class FleetFile(_Strict):
    """A fleet desired-state file (``targets:`` instead of ``target:``)."""

    targets: dict[str, FleetTargetSpec]
    config: dict[str, Any] | None = None
    config_file: str | None = Field(
        default=None,
        alias="config-file",
        description="A CPA config.yaml kept in the repo, shared by every target (instead of "
        "config:).",
    )
    config_policy: ConfigPolicySpec = Field(default=ConfigPolicySpec(), alias="config-policy")
    target_config: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        alias="target-config",
        description="Per-target config, deep-merged over config (a list replaces).",
    )
    auth_files: FleetAuthFilesSpec = Field(default=FleetAuthFilesSpec(), alias="auth-files")


@dataclass(frozen=True)
class TargetEndpoint:
    """Where one target is and its key (resolved: a secret, never shown)."""

    name: str
    url: str
    management_key: str = ""

    def __repr__(self) -> str:
        return f"TargetEndpoint(name={self.name!r}, url={self.url!r})"


@dataclass(frozen=True)
class LoadedFleet:
    """A loaded fleet file. ``read_source`` (``defer_sources``) reads the ``source`` of the
    auth file named so, with the errors loading would give; None when every source was read
    at load (or none is to be read)."""

    fleet: fleet.FleetDesired
    endpoints: Mapping[str, TargetEndpoint]
    path: Path
    base_dir: Path
    read_source: Callable[[str], dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def sources_deferred(self) -> bool:
        """Whether auth-file sources were left unread at load: the files hold no ``content``
        until ``with_sources`` reads the ones a plan needs."""
        return self.read_source is not None

    def with_sources(self, names: Collection[str], *, skip_broken: bool = False) -> LoadedFleet:
        """This fleet with the sources of the auth files ``names`` read (an error names the
        file:line of the ``source``, as at load; ``skip_broken``: a source that cannot be read
        stays unread instead). Others stay unread; with none to read, the fleet itself (its
        placement, computed once, kept)."""
        if self.read_source is None:
            return self
        read = loader.read_sources(
            self.fleet.files, names, self.read_source, skip_broken=skip_broken
        )
        if not read:
            return self
        files = tuple(
            dataclasses.replace(f, content=read[f.name]) if f.name in read else f
            for f in self.fleet.files
        )
        return dataclasses.replace(self, fleet=dataclasses.replace(self.fleet, files=files))


def load_any(
    path: str | os.PathLike[str], *, environ: Mapping[str, str]
) -> loader.LoadedDesired | LoadedFleet:
    """A fleet file (a top-level ``targets:`` line) loaded here, any other by
    ``loader.load_desired`` (an unreadable file too: it says why)."""
    if is_fleet_file(path):
        return load_fleet(path, environ=environ)
    return loader.load_desired(path, environ=environ)


def load_fleet(
    path: str | os.PathLike[str], *, environ: Mapping[str, str], defer_sources: bool = False
) -> LoadedFleet:
    """Read, resolve and validate the fleet file at ``path`` (errors name file:line).
    ``defer_sources``: check every entry but read no auth-file ``source`` yet;
    ``LoadedFleet.with_sources`` reads those a plan needs (a file missing on the target it is
    placed on, or ``replace: true``): a no-change plan of 10,000 files then reads none."""
    with gc_paused():
        return _load(Path(path), environ, defer_sources)


def _error(document: YamlDocument, path: YamlPath, message: str) -> DesiredStateError:
    return DesiredStateError(
        f"{format_path(path)}: {message}", path=document.name, line=document.line_of(path)
    )


def _load(file: Path, environ: Mapping[str, str], defer_sources: bool = False) -> LoadedFleet:
    document = read_yaml(file)
    loader._check_top_level(document)
    loader._check_keys_are_strings(document.data, (), document)
    data: dict[str, Any] = document.data
    if "target" in data:
        raise _error(
            document,
            ("target",),
            "target and targets are both set; a fleet file names its servers under targets only",
        )
    base = loader._Base(shown=file.parent, absolute=Path(os.path.abspath(file)).parent)
    resolution = references.resolve(
        data, environ=environ, read_file=base.read_text, document=document
    )
    _check_literal_places(resolution, document)
    try:
        spec = FleetFile.model_validate(resolution.data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise loader._validation_error(exc, resolution, document) from None
    targets = _targets(spec, document)
    _check_target_config(spec, document)
    shared = _shared_config(spec, resolution, document, base, environ)
    _check_config_keys(spec, shared, resolution, document)
    _check_pinned_twice(spec, document)
    single = cast(DesiredFile, spec)
    files = loader._load_auth_files(single, resolution, document, base, not defer_sources)
    pins = _pins(spec, targets, document)
    states: dict[str, DesiredState] = {}
    for name, tspec in spec.targets.items():
        override = spec.target_config.get(name)
        secret = shared.secret | frozenset(
            loader._config_path(p[2:])
            for p in resolution.sources
            if p[:2] == ("target-config", name)
        )
        config = shared.config
        if override is not None:
            config = deep_merge(shared.config or {}, override)
        if config is not None:
            config = _bind_management_key(config, tspec.management_key)
        policy = spec.auth_files
        states[name] = DesiredState(
            config=config,
            config_prune=spec.config_policy.prune,
            config_ignore=spec.config_policy.ignore,
            secret_paths=secret if config is not None else frozenset(),
            auth_policy=AuthFilesPolicy(
                prune=policy.prune if tspec.prune is None else tspec.prune,
                protect=policy.protect if tspec.protect is None else tspec.protect,
                max_deletions=(
                    policy.max_deletions if tspec.max_deletions is None else tspec.max_deletions
                ),
            ),
        )
    desired = fleet.FleetDesired(
        targets=targets,
        states=states,
        files=files,
        pins=pins,
        placement=spec.auth_files.placement,
    )
    endpoints = {
        name: TargetEndpoint(name, t.url, t.management_key) for name, t in spec.targets.items()
    }
    reader = loader._source_reader(single, resolution, document, base) if defer_sources else None
    return LoadedFleet(desired, endpoints, file, base.absolute, reader)


_LITERAL_PLACES: tuple[tuple[YamlPath, str], ...] = (
    (("targets",), "a target's url is shown in every plan and error; write it literally"),
    (("auth-files", "protect"), "protect patterns are shown in plans; write them literally"),
    (("config-policy", "ignore"), "ignore paths are shown in plans; write them literally"),
)


def _check_literal_places(resolution: references.Resolution, document: YamlDocument) -> None:
    for path in sorted(resolution.sources, key=document.line_of):
        is_key = len(path) == 3 and path[0] == "targets" and path[2] == "management-key"
        if path[:1] == ("targets",) and (is_key or len(path) != 3):
            continue
        pinned = len(path) == 4 and path[:2] == ("auth-files", "files") and path[3] == "target"
        for place, why in _LITERAL_PLACES:
            if path[: len(place)] == place or pinned:
                why = "a pin is shown in every plan; write it literally" if pinned else why
                raise _error(
                    document,
                    path,
                    f"{resolution.sources[path]!r} is a reference, which is not allowed here: {why}",
                )
    # ${management-key} stands only at remote-management.secret-key, in config or in an
    # override (bound per target to that target's key: see _bind_management_key).
    in_config = frozenset(p for p in resolution.key_paths if p[:1] == ("config",))
    loader._check_key_places(in_config, ("config",), document)
    for path in sorted(resolution.key_paths - in_config, key=document.line_of):
        start = path[:2]
        if path[:1] != ("target-config",) or len(path) < 2:
            start = ("config",)  # anywhere else: the message names the allowed place
        loader._check_key_places(frozenset({path}), start, document)


@dataclass(frozen=True)
class _Shared:
    """The shared config (from ``config`` or ``config-file``), the paths whose value is a
    reference (masked in plans), and where it is written (for the key check's lines: the
    config-file is read again only if they are needed)."""

    config: dict[str, Any] | None
    secret: frozenset[ConfigPath]
    where: Callable[[], tuple[YamlDocument, YamlPath]]


def _shared_config(
    spec: FleetFile,
    resolution: references.Resolution,
    document: YamlDocument,
    base: loader._Base,
    environ: Mapping[str, str],
) -> _Shared:
    if spec.config_file is None:
        secret = frozenset(
            loader._config_path(p[1:]) for p in resolution.sources if p[:1] == ("config",)
        )
        return _Shared(spec.config, secret, lambda: (document, ("config",)))
    if spec.config is not None:
        raise _error(document, ("config-file",), "config and config-file are both set; keep one")
    modes = loader._Modes(environ, True)
    relative = spec.config_file
    config, secret, _keys = loader._load_config_file(relative, document, base, modes)
    if modes.unresolved:
        raise references.unresolved_error(modes.unresolved)
    return _Shared(
        config, secret, lambda: (read_yaml(base.file(relative), name=base.show(relative)), ())
    )


def _check_config_keys(
    spec: FleetFile,
    shared: _Shared,
    resolution: references.Resolution,
    document: YamlDocument,
) -> None:
    """Every config key of ``config`` (or the config-file) and of each ``target-config``
    override is one CPA knows, with a value of the type it reads
    (``loader.check_config_piece``), as in a single-target file: else exit 1 naming
    file:line, before any request."""
    allow = spec.config_policy.allow_unknown_keys
    if shared.config is not None:
        loader.check_config_piece(shared.config, shared.secret, allow, shared.where)
    for name, override in spec.target_config.items():
        at: YamlPath = ("target-config", name)
        secret = frozenset(loader._config_path(p[2:]) for p in resolution.sources if p[:2] == at)
        loader.check_config_piece(override, secret, allow, _place(document, at))


def _place(document: YamlDocument, start: YamlPath) -> Callable[[], tuple[YamlDocument, YamlPath]]:
    return lambda: (document, start)


def _bind_management_key(config: dict[str, Any], key: str) -> dict[str, Any]:
    """``config`` with ``remote-management.secret-key: ${management-key}`` bound to ``key``
    (the target's own management key; the path is masked in plans as a reference)."""
    rm = config.get("remote-management")
    if not isinstance(rm, Mapping) or rm.get("secret-key") != references.MANAGEMENT_KEY:
        return config
    return {**config, "remote-management": {**rm, "secret-key": key}}


def _targets(spec: FleetFile, document: YamlDocument) -> tuple[fleet.FleetTarget, ...]:
    if not spec.targets:
        raise _error(document, ("targets",), "names no target; list at least one server")
    seen: dict[str, str] = {}
    out: list[fleet.FleetTarget] = []
    for name, t in spec.targets.items():
        if not TARGET_NAME.match(name):
            raise _error(
                document,
                ("targets", name),
                f"{name!r} is not a valid target name (letters, digits, '.', '_', '-'; at "
                "most 63; it names the target in plans, events and metrics)",
            )
        if not t.url.lower().startswith(("http://", "https://")):
            raise _error(document, ("targets", name, "url"), "expected an http:// or https:// URL")
        url = t.url.strip().rstrip("/").lower()
        if url in seen:
            raise _error(
                document,
                ("targets", name, "url"),
                f"the same server as target {seen[url]}: one server is one target",
            )
        seen[url] = name
        out.append(fleet.FleetTarget(name, t.weight, t.drain))
    return tuple(out)


def _check_target_config(spec: FleetFile, document: YamlDocument) -> None:
    for name in spec.target_config:
        if name not in spec.targets:
            raise _error(
                document,
                ("target-config", name),
                f"unknown target {name!r} (targets: {', '.join(spec.targets)})",
            )


def _check_pinned_twice(spec: FleetFile, document: YamlDocument) -> None:
    """One credential, one server: a name listed twice with two different targets is named as
    such (any other repeated name is the loader's duplicate auth-file name)."""
    first: dict[str, tuple[int, str | None]] = {}
    for index, entry in enumerate(spec.auth_files.files):
        seen = first.setdefault(entry.name, (index, entry.target))
        if seen[0] != index and seen[1] != entry.target and None not in (seen[1], entry.target):
            line = document.line_of(("auth-files", "files", seen[0], "target"))
            raise _error(
                document,
                ("auth-files", "files", index, "target"),
                f"{entry.name} is pinned to two targets ({seen[1]} at line {line}, and "
                f"{entry.target}): a credential lives on one server only",
            )


def _pins(
    spec: FleetFile, targets: tuple[fleet.FleetTarget, ...], document: YamlDocument
) -> dict[str, str]:
    by_name = {t.name: t for t in targets}
    pins: dict[str, str] = {}
    for index, entry in enumerate(spec.auth_files.files):
        at: YamlPath = ("auth-files", "files", index)
        if entry.target is None:
            if spec.auth_files.placement == fleet.PINNED:
                raise _error(
                    document,
                    (*at, "name"),
                    "has no target, and auth-files.placement is pinned (the default): add "
                    "`target: NAME`, or set auth-files.placement: spread",
                )
            continue
        pin = by_name.get(entry.target)
        if pin is None:
            raise _error(
                document,
                (*at, "target"),
                f"unknown target {entry.target!r} (targets: {', '.join(by_name)})",
            )
        if pin.drain:
            raise _error(
                document,
                (*at, "target"),
                f"target {entry.target} drains; pin the file to another target",
            )
        pins[entry.name] = entry.target
    unpinned = [e for e in spec.auth_files.files if e.target is None]
    if unpinned and not any(t.eligible for t in targets):
        raise _error(
            document,
            ("targets",),
            "every target drains, so the spread files have nowhere to go",
        )
    return pins


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, anything else (a list too)
    replaces."""
    out = dict(base)
    for key, value in override.items():
        have = out.get(key)
        if isinstance(have, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(have, value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# JSON Schema


def extend_schema(schema: dict[str, Any]) -> None:
    """Make the published schema accept a fleet file too: ``targets``, ``target-config``,
    ``auth-files.placement`` and a file's ``target`` (``target`` and ``targets`` exclude each
    other)."""
    fleet_schema = FleetFile.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    for name, value in fleet_schema.get("$defs", {}).items():
        if name.startswith(("Fleet", "ConfigPolicy")):
            defs.setdefault(name, value)
    props = schema.setdefault("properties", {})
    props["targets"] = fleet_schema["properties"]["targets"]
    props["target-config"] = fleet_schema["properties"]["target-config"]
    schema["not"] = {"required": ["target", "targets"]}
    auth = defs.get("AuthFilesSpec")
    if auth is not None:
        auth["properties"]["placement"] = defs["FleetAuthFilesSpec"]["properties"]["placement"]
    entry = defs.get("AuthFileEntrySpec")
    if entry is not None:
        entry["properties"]["target"] = defs["FleetAuthFileEntrySpec"]["properties"]["target"]
    for name in ("FleetAuthFilesSpec", "FleetAuthFileEntrySpec"):
        defs.pop(name, None)
