"""Loading the desired-state file into the core's ``DesiredState``.

This module owns the desired-state file on disk: it reads it (and the ``config-file`` and
auth-file ``source`` files it names), resolves references, validates it against
``core.model.DesiredFile``, applies the rules the schema cannot express (auth-file names,
``config`` vs ``config-file``, and, through ``field_rules``, CPA's rules for declared auth-file
``fields``), and builds the resolved, immutable ``DesiredState``. It also decides where CPA is
(``resolve_target``) and publishes the file's JSON Schema.

Every error names the file and line and never holds a secret value: values that came from a
reference are shown as the reference, and auth-file contents are never shown at all.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import UnionType
from typing import Any, Protocol, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.core import cpa_config_keys, names
from reconciler.core.model import (
    AuthFileEntrySpec,
    AuthFilesPolicy,
    DesiredAuthFile,
    DesiredFile,
    DesiredState,
)
from reconciler.core.model import Path as ConfigPath
from reconciler.desired import references
from reconciler.desired.field_rules import LEGACY_FIELD_NAMES, field_name_hint, normalise_fields
from reconciler.desired.yaml_io import (
    OnSection,
    YamlDocument,
    YamlPath,
    format_path,
    read_yaml,
)
from reconciler.errors import DesiredStateError, ReferenceError_, SourceError, UsageError
from reconciler.gc_pause import gc_paused
from reconciler.local_files import (
    SECRET_LIMIT,
    SOURCE_LIMIT,
    read_bounded,
    read_text_bounded,
)

__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "ENV_URL",
    "LEGACY_FIELD_NAMES",
    "SCHEMA_PATH",
    "LoadedDesired",
    "check_config_piece",
    "desired_state_schema",
    "key_given_outside",
    "load_desired",
    "read_key_file",
    "render_schema",
    "resolve_target",
    "write_schema",
]

ENV_URL = "CPA_URL"
ENV_KEY = "CPA_MANAGEMENT_KEY"
ENV_KEY_FILE = "CPA_MANAGEMENT_KEY_FILE"

_KEY_PATH: YamlPath = ("target", "management-key")
# Where ${management-key} may stand: the secret-key CPA checks the management key against
# (in config:, and in a config-file). Anywhere else it would send the key to CPA as some other
# value (an api-key clients use, a header), which is never what was meant.
_KEY_REFERENCE_PLACE: ConfigPath = ("remote-management", "secret-key")

SCHEMA_PATH = Path(__file__).parent.parent / "schema" / "desired-state.schema.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "cpa-reconciler desired state"


@dataclass(frozen=True)
class LoadedDesired:
    """A loaded desired-state file.

    ``target_url`` is what the file says, before flags and environment variables: see
    ``resolve_target``. ``management_key`` resolves ``target.management-key`` when asked
    (``key_reference`` is it as written): a key given by flag or environment wins without it,
    so its variable need not be set then. ``path`` is the file as given; ``base_dir`` its
    directory (absolute), against which relative paths in the file were resolved.
    ``key_paths`` are the config paths written as ``${management-key}``: the state holds the
    reference text there until ``with_management_key`` binds the key in use.
    ``warnings`` are ``file:line: message`` texts about likely mistakes that do not make the
    file invalid (an auth-file field name close to one CPA reads).
    """

    state: DesiredState
    target_url: str | None
    key_reference: str | None
    path: Path
    base_dir: Path
    warnings: tuple[str, ...] = ()
    key_paths: frozenset[ConfigPath] = frozenset()
    resolve_key: Callable[[], str | None] = field(default=lambda: None, repr=False, compare=False)
    read_source: Callable[[str], dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def sources_deferred(self) -> bool:
        """Whether auth-file sources were left unread at load (``defer_sources``): the state
        holds no ``content`` until ``with_sources`` reads the ones needed."""
        return self.read_source is not None

    def with_sources(self, names: Collection[str], *, skip_broken: bool = False) -> LoadedDesired:
        """This desired state with the sources of the auth files ``names`` read (an error
        names the file:line of the ``source``, as at load; ``skip_broken``: a source that
        cannot be read stays unread instead). Others stay unread."""
        if self.read_source is None:
            return self
        read = read_sources(self.state.auth_files, names, self.read_source, skip_broken=skip_broken)
        if not read:
            return self
        files = tuple(
            replace(f, content=read[f.name]) if f.name in read else f for f in self.state.auth_files
        )
        return replace(self, state=replace(self.state, auth_files=files))

    @property
    def management_key(self) -> str | None:
        """``target.management-key`` resolved now (``ReferenceError_`` when it cannot be)."""
        return self.resolve_key()

    def with_management_key(self, key: str) -> LoadedDesired:
        """This desired state with ``${management-key}`` bound to ``key`` (the key the
        reconciler authenticates with, or the next one when rotating)."""
        if not self.key_paths or self.state.config is None:
            return self
        config = copy.deepcopy(dict(self.state.config))
        for path in self.key_paths:
            parent: Any = config
            for part in path[:-1]:
                parent = parent[part]
            template = parent[path[-1]]
            parent[path[-1]] = template.replace(references.MANAGEMENT_KEY, key)
        return replace(self, state=replace(self.state, config=config))


# ---------------------------------------------------------------------------------------------
# Loading


def load_desired(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str],
    warn: Callable[[str], None] | None = None,
    resolve_references: bool = True,
    resolve_key: bool = False,
    defer_sources: bool = False,
    on_section: OnSection | None = None,
) -> LoadedDesired:
    """Read, resolve and validate the desired-state file at ``path``.

    Each of ``LoadedDesired.warnings`` is passed to ``warn``; by default it is printed to
    stderr as ``warning: ...``, once per process (a daemon loads the file every cycle).
    Raises ``DesiredStateError`` (``ReferenceError_`` for references, listing every one that
    cannot be resolved) or ``SourceError``.

    ``resolve_references=False`` checks structure and types only: no ``${env:}`` or
    ``${file:}`` is read (each stands for itself, a string) and no auth-file ``source`` is
    read. ``resolve_key``: resolve ``target.management-key`` now, its problems reported with
    the others (``validate`` when no key is given outside the file); else it is resolved only
    when ``management_key`` is asked for. ``defer_sources``: check every entry but read no
    ``source`` yet; ``with_sources`` reads the ones a plan needs (a file missing on the server,
    or ``replace: true``): a no-change plan of 10,000 files then reads none of them.
    ``on_section``: told each top-level section as soon as it is read (``yaml_io.OnSection``),
    before anything is checked: a hint (``plan`` starts its reads once it has the target).
    """
    # A 10,000-entry file is some million new objects and no garbage: cyclic collections
    # while they are built walked them all again and again (~0.5 s of ~1.5 s).
    with gc_paused():
        loaded = _load(
            Path(path), environ, resolve_references, resolve_key, defer_sources, on_section
        )
    for text in loaded.warnings:
        (warn or _warn_once)(text)
    return loaded


_WARNED: set[str] = set()


def _warn_once(text: str) -> None:
    if text not in _WARNED:
        _WARNED.add(text)
        print(f"warning: {text}", file=sys.stderr)


def _load(
    file: Path,
    environ: Mapping[str, str],
    resolve_references: bool,
    resolve_key: bool,
    defer_sources: bool = False,
    on_section: OnSection | None = None,
) -> LoadedDesired:
    document = read_yaml(file, on_section=on_section)
    _check_top_level(document)
    if not document.string_keys:  # else known while the YAML was read
        _check_keys_are_strings(document.data, (), document)
    # abspath, not resolve(): a symlinked desired file keeps its own directory as the base.
    base = _Base(shown=file.parent, absolute=Path(os.path.abspath(file)).parent)
    modes = _Modes(environ, resolve_references)
    resolution = modes.resolve(
        document.data,
        base=base,
        document=document,
        defer=frozenset() if resolve_key else frozenset({_KEY_PATH}),
    )
    try:
        _check_key_places(resolution.key_paths, ("config",), document)
        _check_literal_places(resolution, document)
        spec = _validate(resolution, document)
        _check_url(spec.target.url, ("target", "url"), document)
        config, secret_paths, key_paths = _load_config(spec, resolution, document, base, modes)
    except DesiredStateError as exc:
        if modes.unresolved:  # what is unset first; a later error may come from it
            raise references.unresolved_error(modes.unresolved) from exc
        raise
    if modes.unresolved:
        raise references.unresolved_error(modes.unresolved)
    _check_config_keys(spec, config, secret_paths, document, base)
    state = DesiredState(
        config=config,
        config_prune=spec.config_policy.prune,
        config_ignore=spec.config_policy.ignore,
        secret_paths=secret_paths,
        auth_files=_load_auth_files(
            spec, resolution, document, base, resolve_references and not defer_sources
        ),
        auth_policy=AuthFilesPolicy(
            prune=spec.auth_files.prune,
            protect=spec.auth_files.protect,
            max_deletions=spec.auth_files.max_deletions,
        ),
    )
    key_reference = resolution.sources.get(_KEY_PATH)
    key_value = spec.target.management_key
    if key_reference is None or resolve_key or not resolve_references:

        def resolve_key_now() -> str | None:
            return key_value

    else:

        def resolve_key_now() -> str | None:
            """target.management-key resolved when it is needed, not before."""
            return str(
                references.resolve(
                    key_reference,
                    environ=environ,
                    read_file=base.read_text,
                    document=document,
                    start=_KEY_PATH,
                ).data
            )

    return LoadedDesired(
        state=state,
        target_url=spec.target.url,
        key_reference=key_reference,
        path=file,
        base_dir=base.absolute,
        warnings=_field_name_warnings(spec, document),
        key_paths=key_paths,
        resolve_key=resolve_key_now,
        read_source=(
            _source_reader(spec, resolution, document, base)
            if defer_sources and resolve_references
            else None
        ),
    )


def read_sources(
    files: Iterable[DesiredAuthFile],
    names: Collection[str],
    reader: Callable[[str], dict[str, Any]],
    *,
    skip_broken: bool = False,
) -> dict[str, dict[str, Any]]:
    """The sources of ``files`` named in ``names`` and not read yet, by file name, read with
    ``reader`` (a ``SourceError`` names the file:line; ``skip_broken``: left out instead)."""
    read: dict[str, dict[str, Any]] = {}
    for f in files:
        if f.content is None and f.source is not None and f.name in names:
            try:
                read[f.name] = reader(f.name)
            except SourceError:
                if not skip_broken:
                    raise
    return read


def _source_reader(
    spec: DesiredFile, resolution: references.Resolution, document: YamlDocument, base: _Base
) -> Callable[[str], dict[str, Any]]:
    """Reads the ``source`` of the entry named so, later, with the errors load would give."""
    index = {entry.name: i for i, entry in enumerate(spec.auth_files.files)}

    def read(name: str) -> dict[str, Any]:
        i = index[name]
        source = spec.auth_files.files[i].source
        assert source is not None  # pragma: no mutate: with_sources asks only for these
        return _read_source(source, _EntryPlace(i, resolution, document), base)

    return read


@dataclass
class _Modes:
    """How references are resolved in one load, and what could not be resolved so far."""

    environ: Mapping[str, str]
    resolve_references: bool
    unresolved: list[references.Unresolved] = field(default_factory=list)

    def resolve(
        self,
        data: Any,
        *,
        base: _Base,
        document: YamlDocument,
        defer: frozenset[YamlPath] = frozenset(),
    ) -> references.Resolution:
        resolution = references.resolve(
            data,
            environ=self.environ,
            read_file=base.read_text,
            document=document,
            placeholders=not self.resolve_references,
            defer=defer,
            collect=True,
        )
        self.unresolved.extend(resolution.unresolved)
        return resolution


def _check_key_places(
    key_paths: frozenset[YamlPath], config_start: YamlPath, document: YamlDocument
) -> None:
    """``${management-key}`` stands only at remote-management.secret-key (``config_start`` is
    where the config is in ``document``), as the whole value."""
    for path in sorted(key_paths, key=document.line_of):
        if path != (*config_start, *_KEY_REFERENCE_PLACE):
            where = (
                "config.remote-management.secret-key"
                if config_start
                else ("remote-management.secret-key")
            )
            raise ReferenceError_(
                f"{format_path(path)}: {references.MANAGEMENT_KEY} is the management key the "
                f"reconciler authenticates with; it is allowed only at {where} (the key CPA "
                "checks it against)",
                path=document.name,
                line=document.line_of(path),
            )
        if _written_at(document, path) != references.MANAGEMENT_KEY:
            raise ReferenceError_(
                f"{format_path(path)}: {references.MANAGEMENT_KEY} must be the whole value",
                path=document.name,
                line=document.line_of(path),
            )


def _written_at(document: YamlDocument, path: YamlPath) -> Any:
    value: Any = document.data
    for part in path:
        value = value[part]
    return value


@dataclass(frozen=True)
class _Base:
    """The desired file's directory: ``shown`` as the user named it, ``absolute`` to read."""

    shown: Path
    absolute: Path

    def file(self, relative: str) -> Path:
        return self.absolute / relative

    def show(self, relative: str) -> str:
        return str(self.shown / relative)

    def read_text(self, relative: str) -> str:
        """The text of a ``${file:}`` reference: a regular file of at most SECRET_LIMIT bytes."""
        return read_text_bounded(self.file(relative), SECRET_LIMIT)


def _check_top_level(document: YamlDocument) -> None:
    if document.data is None:
        raise DesiredStateError("the file is empty; expected a mapping", path=document.name)
    if not isinstance(document.data, dict):
        raise DesiredStateError(
            f"expected a mapping at the top level, got {_kind(document.data)}",
            path=document.name,
            line=document.line_of(()),
        )


def _check_keys_are_strings(value: Any, path: YamlPath, document: YamlDocument) -> None:
    """Mapping keys must be strings everywhere (JSON and CPA's config both need it)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_keys_are_strings(item, (*path, index), document)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DesiredStateError(
                    f"{format_path(path)}: key {_yaml_scalar(key)} is not a string (quote it)",
                    path=document.name,
                    line=document.line_of((*path, key)),
                )
            _check_keys_are_strings(item, (*path, key), document)


# Identifiers, shown in every plan, error, event and backup manifest: a ${env:}/${file:} value
# there would be printed in clear, so they are written literally. (The URL may come from CPA_URL
# or --url instead; a value that must stay secret belongs in a config value or the key.)
_LITERAL_PLACES: dict[YamlPath, str] = {
    ("target", "url"): "the target URL is shown in every plan and error; write it literally, "
    "or set CPA_URL or --url",
    ("config-file",): "the config-file path is shown in every error about that file; write it "
    "literally (references inside the file are fine)",
    ("auth-files", "protect"): "protect patterns are shown in plans; write them literally",
    ("config-policy", "ignore"): "ignore paths are shown in plans; write them literally",
}


def _check_literal_places(resolution: references.Resolution, document: YamlDocument) -> None:
    """Refuse a reference where the value is an identifier (see ``_LITERAL_PLACES``); the
    auth-file names are checked with the entries (``_check_name``)."""
    for path in sorted(resolution.sources, key=document.line_of):
        for place, why in _LITERAL_PLACES.items():
            if path[: len(place)] == place:
                raise DesiredStateError(
                    f"{format_path(path)}: {resolution.sources[path]!r} is a reference, which "
                    f"is not allowed here: {why}",
                    path=document.name,
                    line=document.line_of(path),
                )


def _check_url(url: str | None, path: YamlPath, document: YamlDocument) -> None:
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise DesiredStateError(
            f"{format_path(path)}: expected an http:// or https:// URL",
            path=document.name,
            line=document.line_of(path),
        )


# ---------------------------------------------------------------------------------------------
# Schema validation (pydantic errors mapped back to lines)


def _validate(resolution: references.Resolution, document: YamlDocument) -> DesiredFile:
    try:
        return DesiredFile.model_validate(resolution.data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise _validation_error(exc, resolution, document) from None


def _validation_error(
    exc: ValidationError, resolution: references.Resolution, document: YamlDocument
) -> DesiredStateError:
    """All of pydantic's errors, in line order, each with its line."""
    problems = sorted(
        (_problem(error, resolution, document) for error in exc.errors()),
        key=lambda item: item[0],
    )
    first_line, first = problems[0]
    rest = [f"{document.name}:{line}: {message}" for line, message in problems[1:]]
    return DesiredStateError("\n".join([first, *rest]), path=document.name, line=first_line)


def _problem(
    error: ErrorDetails, resolution: references.Resolution, document: YamlDocument
) -> tuple[int, str]:
    """One pydantic error as (line, message)."""
    loc: YamlPath = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return document.line_of(loc), _unknown_key(loc)
    if kind == "missing":
        parent = loc[:-1]
        where = f"{format_path(parent)}: " if parent else ""
        return document.line_of(parent), f"{where}missing required key '{loc[-1]}'"
    if kind == "greater_than_equal":
        got = _got(error["input"], loc, resolution)
        limit = error.get("ctx", {}).get("ge")
        return document.line_of(loc), f"{format_path(loc)}: must be {limit} or more, got {got}"
    expected = _EXPECTED.get(kind)
    if expected is not None:
        got = _got(error["input"], loc, resolution)
        return document.line_of(loc), f"{format_path(loc)}: expected {expected}, got {got}"
    return document.line_of(loc), f"{format_path(loc)}: {error['msg']}"


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
    "iterable_type": "a list",
}

_SECRET_LOCS = frozenset({("target", "management-key")})


def _got(value: Any, loc: YamlPath, resolution: references.Resolution) -> str:
    """The wrong value, shown only when it is safe: not from a reference, not a key."""
    if loc in resolution.sources:
        return resolution.shown(loc, value)
    if isinstance(value, dict | list):
        return _kind(value)
    if isinstance(value, str) and (loc in _SECRET_LOCS or len(value) > 40):
        return "a string"
    return _yaml_scalar(value)


def _unknown_key(loc: YamlPath) -> str:
    key, parent = loc[-1], loc[:-1]
    allowed = _allowed_keys(parent)
    where = f" in {format_path(parent)}" if parent else " at the top level"
    message = f"unknown key {_yaml_scalar(key)}{where}"
    if allowed:
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        message += f" ({hint}allowed: {', '.join(allowed)})"
    return message


def _allowed_keys(loc: YamlPath) -> list[str]:
    """The keys the schema allows at ``loc`` (empty when ``loc`` is not a schema section)."""
    model: type[BaseModel] | None = DesiredFile
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        info = fields.get(str(part))
        model = _model_in(info.annotation) if info is not None else None
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X``, ``X | None`` or ``tuple[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (tuple, list, Union, UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


# ---------------------------------------------------------------------------------------------
# config / config-file


def _load_config(
    spec: DesiredFile,
    resolution: references.Resolution,
    document: YamlDocument,
    base: _Base,
    modes: _Modes,
) -> tuple[dict[str, Any] | None, frozenset[ConfigPath], frozenset[ConfigPath]]:
    """The config, the paths whose value is from a reference, and those of
    ``${management-key}``."""
    if spec.config is not None and spec.config_file is not None:
        raise DesiredStateError(
            "config and config-file are both set; keep one",
            path=document.name,
            line=document.line_of(("config-file",)),
        )
    if spec.config_file is not None:
        return _load_config_file(spec.config_file, document, base, modes)
    if spec.config is None:
        return None, frozenset(), frozenset()
    config: dict[str, Any] = resolution.data["config"]
    secret = frozenset(_config_path(p[1:]) for p in resolution.sources if p[:1] == ("config",))
    keys = frozenset(_config_path(p[1:]) for p in resolution.key_paths)
    return config, secret, keys


def _load_config_file(
    relative: str, document: YamlDocument, base: _Base, modes: _Modes
) -> tuple[dict[str, Any], frozenset[ConfigPath], frozenset[ConfigPath]]:
    file = base.file(relative)
    if not file.is_file():
        problem = "does not exist"
        if file.is_dir():
            problem = "is a directory"
        elif file.exists():  # a FIFO would block, a device never end
            problem = "is not a regular file"
        raise DesiredStateError(
            f"config-file: {base.show(relative)} {problem}",
            path=document.name,
            line=document.line_of(("config-file",)),
        )
    config_doc = read_yaml(file, name=base.show(relative))
    if not isinstance(config_doc.data, dict):
        got = "an empty file" if config_doc.data is None else _kind(config_doc.data)
        raise DesiredStateError(
            f"a CPA config must be a mapping, got {got}", path=config_doc.name, line=1
        )
    _check_keys_are_strings(config_doc.data, (), config_doc)
    resolution = modes.resolve(config_doc.data, base=base, document=config_doc)
    _check_key_places(resolution.key_paths, (), config_doc)
    secret = frozenset(_config_path(path) for path in resolution.sources)
    keys = frozenset(_config_path(path) for path in resolution.key_paths)
    return resolution.data, secret, keys


def _config_path(path: YamlPath) -> ConfigPath:
    return tuple(part if isinstance(part, int) else str(part) for part in path)


def _check_config_keys(
    spec: DesiredFile,
    config: Mapping[str, Any] | None,
    referenced: frozenset[ConfigPath],
    document: YamlDocument,
    base: _Base,
) -> None:
    """The config (``config`` or the ``config-file``) checked by ``check_config_piece``."""
    if config is None:
        return
    relative = spec.config_file

    def where() -> tuple[YamlDocument, YamlPath]:
        if relative is None:
            return document, ("config",)
        return read_yaml(base.file(relative), name=base.show(relative)), ()

    check_config_piece(config, referenced, spec.config_policy.allow_unknown_keys, where)


def check_config_piece(
    config: Mapping[str, Any],
    referenced: frozenset[ConfigPath],
    allow_unknown: tuple[str, ...],
    where: Callable[[], tuple[YamlDocument, YamlPath]],
) -> None:
    """Every key of one piece of CPA config (a desired file's ``config`` or ``config-file``, a
    fleet's ``target-config`` override) is one CPA v7.2.140 knows, with a value of the type its
    decoder reads (``core.cpa_config_keys``), else the file is refused here, naming each
    file:line, before any request: a typo would be written into config.yaml and ignored, a
    wrong type answered with a 400 at apply. ``referenced``: the paths whose value came from a
    reference, shown as the reference as written. ``where``: the document the piece is written
    in and where in it, asked for (once) only when a value must be shown or a line named (a
    config-file is then read again for its lines)."""
    place: list[tuple[YamlDocument, YamlPath]] = []

    def located() -> tuple[YamlDocument, YamlPath]:
        if not place:
            place.append(where())
        return place[0]

    def written(path: ConfigPath) -> str:
        doc, start = located()
        value: Any = doc.data
        for part in (*start, *path):
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                value = None
        return value if isinstance(value, str) else "a reference"

    problems = cpa_config_keys.check_config(
        config, allow_unknown=allow_unknown, referenced=referenced, written=written
    )
    if not problems:
        return
    doc, start = located()
    lines = sorted(
        (doc.line_of((*start, *p.path)), f"{format_path((*start, *p.path))}: {p.message}")
        for p in problems
    )
    first_line, first = lines[0]
    rest = [f"{doc.name}:{line}: {message}" for line, message in lines[1:]]
    raise DesiredStateError("\n".join([first, *rest]), path=doc.name, line=first_line)


# ---------------------------------------------------------------------------------------------
# auth-files


def _load_auth_files(
    spec: DesiredFile,
    resolution: references.Resolution,
    document: YamlDocument,
    base: _Base,
    read_sources: bool = True,
) -> tuple[DesiredAuthFile, ...]:
    seen: dict[str, int] = {}
    loaded: list[DesiredAuthFile] = []
    referenced = _referenced_fields(resolution)
    for index, entry in enumerate(spec.auth_files.files):
        at = _EntryPlace(index, resolution, document)
        _check_name(entry.name, at)
        if entry.name in seen:
            first = _EntryPlace(seen[entry.name], resolution, document).line("name")
            raise at.error(f"duplicate auth-file name (first at line {first})", "name")
        seen[entry.name] = index  # its line only for the message: lines are looked up lazily
        loaded.append(
            _load_entry(entry, at, base, referenced.get(index, frozenset()), read_sources)
        )
    return tuple(loaded)


def _referenced_fields(resolution: references.Resolution) -> dict[int, frozenset[str]]:
    """For each auth-files.files[index], the (normalised) fields whose value, or part of it,
    came from a reference (one pass over the references, not one per entry)."""
    found: dict[int, set[str]] = {}
    for path in resolution.sources:
        if len(path) > 4 and path[:2] == ("auth-files", "files") and path[3] == "fields":
            key = str(path[4])
            found.setdefault(path[2], set()).add(LEGACY_FIELD_NAMES.get(key, key))
    return {index: frozenset(keys) for index, keys in found.items()}


@dataclass(frozen=True)
class _EntryPlace:
    """Where auth-files.files[index] is written, for error messages (a ``field_rules.Place``)."""

    index: int
    resolution: references.Resolution
    document: YamlDocument

    def path(self, *rest: Any) -> YamlPath:
        return ("auth-files", "files", self.index, *rest)

    def line(self, *rest: Any) -> int:
        return self.document.line_of(self.path(*rest))

    def shown(self, key: str, value: str) -> str:
        return self.resolution.shown(self.path(key), value)

    def value_words(self, *rest: Any) -> str:
        """'the value', or 'the value of <reference as written>': never the value itself."""
        template = self.resolution.sources.get(self.path(*rest))
        return "the value" if template is None else f"the value of {template}"

    def got(self, value: Any, *rest: Any) -> str:
        """A wrong value, shown only when it is safe (else by its kind, or its reference)."""
        return _got(value, self.path(*rest), self.resolution)

    def described(self, value: Any, *rest: Any) -> str:
        """A value by its kind (it may be a credential), or its reference as written."""
        template = self.resolution.sources.get(self.path(*rest))
        return _kind(value) if template is None else f"the value of {template}"

    def error(self, message: str, *rest: Any) -> DesiredStateError:
        return DesiredStateError(
            f"{format_path(self.path(*rest))}: {message}",
            path=self.document.name,
            line=self.line(*rest),
        )


def _field_name_warnings(spec: DesiredFile, document: YamlDocument) -> tuple[str, ...]:
    """``file:line: ...`` for each declared auth-file field whose name CPA does not read but
    is close to one it does (``field_rules.field_name_hint``): a custom field is allowed, so
    this only warns."""
    found: list[str] = []
    for index, entry in enumerate(spec.auth_files.files):
        for key in entry.fields or {}:
            hint = field_name_hint(key)
            if hint is None:
                continue
            path = ("auth-files", "files", index, "fields", key)
            meant = "the entry's own disabled key" if hint == "disabled" else f"'{hint}'"
            found.append(
                f"{document.name}:{document.line_of(path)}: {format_path(path)}: CPA reads no "
                f"field '{key}'; did you mean {meant}? (a custom field is kept as written)"
            )
    return tuple(found)


def _load_entry(
    entry: AuthFileEntrySpec,
    at: _EntryPlace,
    base: _Base,
    secret_fields: frozenset[str],
    read_source: bool = True,
) -> DesiredAuthFile:
    if entry.replace and entry.source is None:
        raise at.error("true needs a source to re-seed from", "replace")
    content = None
    if entry.source is not None and read_source:
        content = _read_source(entry.source, at, base)
    return DesiredAuthFile(
        name=entry.name,
        source=entry.source,
        content=content,
        disabled=entry.disabled,
        fields=normalise_fields(entry.fields or {}, at),
        replace=entry.replace,
        secret_fields=secret_fields,
    )


def _check_name(name: str, at: _EntryPlace) -> None:
    """An auth-file name is an identifier shown in every plan: written literally, and one CPA
    keeps exactly as written (``core.names``; else an upload would land on another file)."""
    template = at.resolution.sources.get(at.path("name"))
    if template is not None:
        raise at.error(
            f"{template!r}: an auth-file name must be written literally, not as a reference "
            "(it is shown in every plan, --json and --markdown output and event)",
            "name",
        )
    problem = names.name_problem(name)
    if problem is not None:
        raise at.error(f"{_shown_name(name)} is not a valid auth-file name: {problem}", "name")


def _shown_name(name: str) -> str:
    """``name`` quoted, every character that would not show as itself escaped."""
    if name.isprintable() and "'" not in name:
        return f"'{name}'"
    return repr(name).encode("ascii", "backslashreplace").decode("ascii")


def _read_source(source: str, at: _EntryPlace, base: _Base) -> dict[str, Any]:
    """The parsed auth-file ``source``; errors never show its content."""

    def fail(problem: str) -> SourceError:
        from_reference = at.path("source") in at.resolution.sources
        shown = at.shown("source", source) if from_reference else base.show(source)
        where = f"{at.document.name}:{at.line('source')}: {format_path(at.path('source'))}"
        return SourceError(f"{where}: {shown} {problem}")

    try:
        raw = read_bounded(base.file(source), SOURCE_LIMIT)
    except FileNotFoundError as exc:
        raise fail("does not exist") from exc
    except IsADirectoryError as exc:
        raise fail("is a directory, not a JSON file") from exc
    except PermissionError as exc:
        raise fail("is not readable (permission denied)") from exc
    except OSError as exc:
        raise fail(f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
    return _parse_source(raw, fail)


def _parse_source(raw: bytes, fail: Callable[[str], SourceError]) -> dict[str, Any]:
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise fail("is not valid JSON (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        raise fail(
            f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise fail(f"is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise fail(f"is not a JSON object (it holds {_json_kind(value)})")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# ---------------------------------------------------------------------------------------------
# Target


class TargetSource(Protocol):
    """What ``resolve_target`` reads of a desired file: a ``LoadedDesired``, or the target
    section read before the rest of the file (``pipeline.prefetch``)."""

    @property
    def path(self) -> Path: ...

    @property
    def target_url(self) -> str | None: ...

    @property
    def management_key(self) -> str | None: ...


def resolve_target(
    loaded: TargetSource | None,
    *,
    url: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    key_arg: str | None = None,
    environ: Mapping[str, str],
) -> tuple[str, str]:
    """CPA's URL and management key: flag > environment > file.

    The URL: ``--url``, ``CPA_URL``, ``target.url``. The key: ``--management-key-file``,
    ``--management-key``, ``CPA_MANAGEMENT_KEY_FILE``, ``CPA_MANAGEMENT_KEY``, and only when
    none of them is given ``target.management-key`` (resolved only then: its variable need not
    be set when the key comes from elsewhere). A key file's text has one trailing newline
    stripped. Empty environment variables count as unset. Raises ``UsageError`` (or
    ``ReferenceError_`` for target.management-key).
    """
    origin = str(loaded.path) if loaded is not None else None
    chosen_url = _first(
        (url, "--url"),
        (environ.get(ENV_URL), ENV_URL),
        (loaded.target_url if loaded else None, f"target.url in {origin}"),
    )
    if chosen_url is None:
        raise UsageError(
            f"no CPA URL: set target.url in the desired-state file, {ENV_URL} or --url"
        )
    if not chosen_url[0].lower().startswith(("http://", "https://")):
        raise UsageError(f"{chosen_url[1]}: expected an http:// or https:// URL")
    key = key_given_outside(key_file=key_file, key_arg=key_arg, environ=environ)
    if key is None and loaded is not None:
        key = loaded.management_key or None
    if key is None:
        raise UsageError(
            "no management key: set target.management-key in the desired-state file, "
            f"{ENV_KEY}, {ENV_KEY_FILE} or --management-key-file"
        )
    return chosen_url[0], key


def key_given_outside(
    *,
    key_file: str | os.PathLike[str] | None = None,
    key_arg: str | None = None,
    environ: Mapping[str, str],
) -> str | None:
    """The management key given by flag or environment, in that order: ``--management-key-file``,
    ``--management-key``, ``CPA_MANAGEMENT_KEY_FILE``, ``CPA_MANAGEMENT_KEY``; None when none
    is (the desired state's ``target.management-key`` is then the key)."""
    if key_file is not None:
        return read_key_file(key_file)
    if key_arg:
        return key_arg
    env_file = environ.get(ENV_KEY_FILE)
    if env_file:
        return read_key_file(env_file, origin=ENV_KEY_FILE)
    return environ.get(ENV_KEY) or None


def _first(*candidates: tuple[str | None, str]) -> tuple[str, str] | None:
    for value, origin in candidates:
        if value:
            return value, origin
    return None


def read_key_file(path: str | os.PathLike[str], *, origin: str = "--management-key-file") -> str:
    """The management key in ``--management-key-file`` (one trailing newline stripped): a
    regular file of at most ``SECRET_LIMIT`` bytes. Raises ``UsageError`` naming ``origin``
    (the flag, or ``CPA_MANAGEMENT_KEY_FILE``) and the file."""
    where = (
        f"{origin} {os.fspath(path)}" if origin.startswith("-") else (f"{origin}={os.fspath(path)}")
    )
    try:
        text = read_text_bounded(path, SECRET_LIMIT)
    except FileNotFoundError as exc:
        raise UsageError(f"{where}: the file does not exist") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: the file is not UTF-8 text") from exc
    except OSError as exc:
        raise UsageError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from exc
    key = text.removesuffix("\n").removesuffix("\r")
    if not key:
        raise UsageError(f"{where}: the file is empty")
    return key


# ---------------------------------------------------------------------------------------------
# JSON Schema


def desired_state_schema() -> dict[str, Any]:
    """The JSON Schema of the desired-state file, as published in SCHEMA_PATH."""
    schema = DesiredFile.model_json_schema(by_alias=True)
    schema.pop("title", None)
    _add_config_schema(schema)
    from reconciler.desired import fleet  # imports this module: loaded only here

    fleet.extend_schema(schema)  # a fleet file (targets:) is a desired-state file too
    return {"$schema": SCHEMA_DIALECT, "title": SCHEMA_TITLE, **schema}


def _add_config_schema(schema: dict[str, Any]) -> None:
    """``config`` typed as CPA v7.2.140 reads it (``core.cpa_config_keys``). Unknown keys are
    marked (``additionalProperties: false``) only when ``config-policy.allow-unknown-keys`` is
    empty or absent: a key it allows is valid, and an editor must not show a valid file as
    wrong (JSON Schema cannot match the policy's globs, so with any pattern listed only the
    known keys' types are checked)."""
    defs = schema.setdefault("$defs", {})
    for closed, name in ((False, "CpaConfig"), (True, "CpaConfigStrict")):
        defs[name], shared = cpa_config_keys.json_schema(closed=closed)
        defs.update(shared)
    config = schema["properties"]["config"]
    config["anyOf"] = [{"$ref": "#/$defs/CpaConfig"}, {"type": "null"}]
    schema["if"] = {
        "required": ["config-policy"],
        "properties": {
            "config-policy": {
                "required": ["allow-unknown-keys"],
                "properties": {"allow-unknown-keys": {"minItems": 1}},
            }
        },
    }
    schema["else"] = {
        "properties": {"config": {"anyOf": [{"$ref": "#/$defs/CpaConfigStrict"}, {"type": "null"}]}}
    }


def render_schema() -> str:
    return json.dumps(desired_state_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> None:
    """Regenerate the published schema: ``python -m reconciler.desired.loader``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_schema(), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Small helpers


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return _yaml_scalar(value)


def _yaml_scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the published JSON Schema."""
    target = Path(argv[0]) if argv else SCHEMA_PATH
    write_schema(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
