"""Parsing a large desired file on a second core while the command is still starting.

A one-shot command spends its first ~0.25 s importing what it needs (pydantic, httpx, the
models) and, for a 10,000-entry desired file, about as long again parsing its YAML. Both are
CPU work under one interpreter lock, so the one waits for the other. ``start`` (called by the
CLI before it imports the command) forks a child that reads and parses the file named on the
command line while the parent imports; ``take`` (called by ``yaml_io.read_yaml`` with the bytes
it read) hands over the child's result when the child read the very same bytes.

The child only reads and parses: it writes nothing but its answer on a pipe, sends no request,
takes no lock, and ends with ``os._exit`` (no atexit handler, no buffered output of the
parent's). Its answer is the SHA-256 of the bytes it read, then ``marshal`` records: each
top-level section as the fast path of ``yaml_io`` meets it (``OnSection``: a small mapping with
its value, a large one by name only), then the document's data, or ``unsure`` when that path
leaves the document (an error, an alias, anything unusual: the parent then parses the file
itself, as without this module, and every error is worded by the parent), then its lines, read
only when a message asks for one. The result is a pure function of the bytes, so the same
bytes give the same data whichever process parsed them.

Only where it is safe and pays: on a system with ``fork``, in a process running one thread
(forking a threaded process may deadlock the child), for a file of at least ``MIN_SIZE``
bytes (below that the fork costs more than it saves), and unless ``RECONCILER_PARSE_AHEAD=0``.

May import: the standard library, ``reconciler.local_files``; the child imports ``yaml_io``.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import marshal
import os
import signal
import stat
import struct
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from reconciler.local_files import DOCUMENT_LIMIT, read_bounded

__all__ = ["MIN_SIZE", "SWITCH", "Ahead", "single_thread", "start", "take", "taken"]

MIN_SIZE = 256 * 1024
"""Smallest file parsed ahead (a desired file of ~1,500 auth files)."""

SWITCH = "RECONCILER_PARSE_AHEAD"
"""Set to ``0`` to parse in the command's own process only."""

_DIGEST = 32


class _Child:
    __slots__ = ("pid", "reader")

    def __init__(self, pid: int, reader: int) -> None:
        self.pid = pid
        self.reader = reader


_pending: _Child | None = None
_lines: _Lines | None = None  # the last child's lines, not yet read
_taken = 0


def taken() -> int:
    """How many documents this process took from a child (for tests and benchmarks)."""
    return _taken


def start(candidates: Sequence[str]) -> bool:
    """Fork a child parsing the first of ``candidates`` that is a regular file of at least
    ``MIN_SIZE`` bytes, ``.yaml``/``.yml`` ones first (the command's arguments: ``apply --plan
    PLAN.json DESIRED`` names a large plan file too; ``take`` matches by content, so a wrong
    pick only costs the gain). False when nothing was started."""
    global _pending
    if os.environ.get(SWITCH, "1") == "0":
        return False
    if _pending is not None or not hasattr(os, "fork") or not single_thread():
        return False
    yaml_first = sorted(candidates, key=lambda c: not c.lower().endswith((".yaml", ".yml")))
    path = next((c for c in yaml_first if _large_file(c)), None)
    if path is None:
        return False
    reader, writer = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(reader)
        os.close(writer)
        return False
    if pid == 0:  # pragma: no cover - the child ends in os._exit; tests see its answer
        os.close(reader)
        _child(path, writer)
    os.close(writer)
    _pending = _Child(pid, reader)
    atexit.unregister(_reap)
    atexit.register(_reap)  # a child not taken (an error before the load) ends with this process
    return True


class Ahead:
    """What ``take`` found: ``parsed`` is the child's ``(data, lines, string_keys,
    dollar_paths)`` (as in
    ``yaml_io.YamlDocument``), or None (parse the bytes as usual); ``told`` is whether
    ``on_section`` was already told sections (then the usual parse must not tell them again)."""

    __slots__ = ("parsed", "told")

    def __init__(self) -> None:
        self.parsed: tuple[Any, Mapping[Any, int], bool, frozenset[Any]] | None = None
        self.told = False


class _Lines(Mapping[Any, int]):
    """The lines of the child's document, read from the pipe when first asked: only error
    messages ask, and decoding 50,000 paths costs ~20 ms a plan need not spend."""

    def __init__(self, pipe: BinaryIO, pid: int) -> None:
        self._pipe: BinaryIO | None = pipe
        self._pid = pid
        self._lines: dict[Any, int] = {}

    def _loaded(self) -> dict[Any, int]:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            try:
                with pipe:
                    record = _read_frame(pipe)
                if record[0] == "lines" and isinstance(record[1], dict):
                    self._lines = record[1]
            except (OSError, EOFError, ValueError, TypeError, IndexError):
                pass  # no lines: messages name line 1, as for a document without them
            finally:
                _end(self._pid)
        return self._lines

    def __getitem__(self, path: Any) -> int:
        return self._loaded()[path]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def close(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
            _end(self._pid)


def take(raw: bytes, on_section: Callable[[str, Any], None] | None = None) -> Ahead:
    """The child's result when it parsed exactly ``raw``. ``on_section`` is told the top-level
    sections as the child met them (``yaml_io.OnSection``), a large mapping (more than
    ``_EARLY_ITEMS`` items, or a list or mapping of more than that inside) once the whole
    result is here. The child is consumed either way (its lines when first asked)."""
    global _pending, _lines, _taken
    child, _pending = _pending, None
    ahead = Ahead()
    if child is None:
        return ahead
    late: list[str] = []
    pipe = os.fdopen(child.reader, "rb")
    try:
        digest = pipe.read(_DIGEST)
        if len(digest) != _DIGEST or digest != hashlib.sha256(raw).digest():
            raise ValueError("other bytes")
        while True:
            record = _read_frame(pipe)
            if record[0] == "section" and on_section is not None:
                ahead.told = True
                on_section(record[1], record[2])
            elif record[0] == "late":
                late.append(record[1])
            elif record[0] == "done":
                data, string_keys, dollar_paths = record[1], record[2] is True, record[3]
                break
            elif record[0] == "unsure":
                raise ValueError("unsure")
    except (OSError, EOFError, ValueError, TypeError, IndexError):
        pipe.close()
        _end(child.pid)
        return ahead
    if on_section is not None and type(data) is dict:
        for key in late:
            ahead.told = True
            on_section(key, data[key])
    _lines = _Lines(pipe, child.pid)
    ahead.parsed = data, _lines, string_keys, frozenset(dollar_paths)
    _taken += 1
    return ahead


_EARLY_ITEMS = 64
_LENGTH = struct.Struct(">I")


def _read_frame(pipe: BinaryIO) -> tuple[Any, ...]:
    head = pipe.read(_LENGTH.size)
    if len(head) != _LENGTH.size:
        raise EOFError("the child ended early")
    (size,) = _LENGTH.unpack(head)
    body = pipe.read(size)
    if len(body) != size:
        raise EOFError("the child ended early")
    record = marshal.loads(body)
    if not isinstance(record, tuple) or not record:
        raise ValueError("not a record")
    return record


def _write_frame(pipe: BinaryIO, record: tuple[Any, ...]) -> None:  # pragma: no cover - child
    body = marshal.dumps(record)
    pipe.write(_LENGTH.pack(len(body)) + body)
    pipe.flush()


def _child(path: str, writer: int) -> None:  # pragma: no cover - runs in the forked child
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent speaks, this ends
        # Not a holder of the command's standard streams: whoever reads its output (a pipe, a
        # CI log) sees the end when the command ends, whatever becomes of this child.
        devnull = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(devnull, stream)
        os.close(devnull)
        import gc

        gc.disable()  # short-lived, acyclic: collections would only walk it
        raw = read_bounded(path, DOCUMENT_LIMIT)
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(hashlib.sha256(raw).digest())
            pipe.flush()
            data, lines = _parse(raw, pipe)
            _write_frame(pipe, data)
            if lines is not None:
                _write_frame(pipe, ("lines", lines))
    except BaseException:  # any failure: the parent parses the file itself
        code = 1
    finally:
        os._exit(code)


def _small(value: dict[str, Any]) -> bool:  # pragma: no cover - in the child
    return len(value) <= _EARLY_ITEMS and all(
        len(item) <= _EARLY_ITEMS for item in value.values() if isinstance(item, (dict, list))
    )


def _parse(
    raw: bytes, pipe: BinaryIO
) -> tuple[tuple[Any, ...], dict[Any, int] | None]:  # pragma: no cover - in the child
    from reconciler.desired import yaml_io

    def told(key: str, value: dict[str, Any] | None) -> None:
        if value is None or _small(value):
            _write_frame(pipe, ("section", key, value))
        else:
            _write_frame(pipe, ("late", key))

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ("unsure",), None
    document = yaml_io.fast_path(text, on_section=told)
    if document is None:
        return ("unsure",), None
    dollars = tuple(document.dollar_paths or ())
    return ("done", document.data, document.string_keys, dollars), dict(document.lines)


def _end(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def _reap() -> None:
    global _pending, _lines
    lines, _lines = _lines, None
    if lines is not None:
        lines.close()
    child, _pending = _pending, None
    if child is not None:
        with contextlib.suppress(OSError):
            os.close(child.reader)
        _end(child.pid)


def single_thread() -> bool:
    """Whether this process runs one thread only (forking, or ending without teardown, is
    safe then; ``threading`` not even imported counts as one)."""
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _large_file(path: str) -> bool:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size >= MIN_SIZE
