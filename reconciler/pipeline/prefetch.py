"""A plan's two reads, sent while the desired file is still being loaded.

A no-change ``plan`` spends its time loading the desired file (CPU) and waiting for CPA's two
answers (``GET /config.yaml`` and ``GET /auth-files``: ~60 ms of bcrypt each, and the listing
built and sent). ``Prefetch`` overlaps the two: the loader tells it each top-level section as
soon as it is read (``yaml_io.OnSection``); from the ``target`` section (with ``--url``,
``CPA_URL`` and the key given outside the file, as ``resolve_target`` decides) it starts the
listing read in a thread, and the config read once a ``config`` section was seen or the load
says it is managed. When the load is done, ``take`` hands the reads over, but only for the
very target the loaded file names (else they are dropped and the plan reads as ever).

Only with a key known to work (``Session.at_once``: it passed on this target last time and
nothing failed since): a first run, or any run after a failed attempt, sends nothing before
the desired file is loaded and checked. So a bad desired file never costs a failed attempt;
with a known-good key it may cost the two reads (nothing is ever changed before the file is
checked). ``close`` always waits for the reads in flight, so that the auth record is told how
they went before the process ends.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.client.management import ManagementClient
from reconciler.client.transport import run_pair
from reconciler.desired.loader import key_given_outside, resolve_target
from reconciler.desired.references import Reference, parse_template
from reconciler.pipeline import live
from reconciler.pipeline.planning import (
    Target,
    TargetOptions,
    canonical_url,
    check_url,
    make_client,
)

log = logging.getLogger(__name__)

_SWITCH_INTERVAL = 0.0005


@dataclass(frozen=True)
class _Section:
    """The target section as ``resolve_target`` reads a loaded file."""

    path: Path
    target_url: str | None
    management_key: str | None


def _text(value: Any) -> str | None:
    """A value written literally (no reference), or None."""
    if not isinstance(value, str):
        return None
    segments = parse_template(value)
    return value if all(isinstance(s, str) for s in segments) else None


def _key(value: Any, environ: Mapping[str, str]) -> str | None:
    """``target.management-key`` when it is one ``${env:NAME}`` (the way the examples write
    it), else None: anything else waits for the load."""
    if not isinstance(value, str):
        return None
    segments = parse_template(value)
    if len(segments) != 1 or not isinstance(segments[0], Reference):
        return None
    ref = segments[0]
    return environ.get(ref.argument) or None if ref.kind == "env" else None


class Prefetch:
    """The plan's two reads, started from the target section while the file loads."""

    def __init__(
        self,
        path: Path,
        opts: TargetOptions,
        environ: Mapping[str, str],
        state_dir: Callable[[], Path | None],
    ) -> None:
        self._path = path
        self._opts = opts
        self._environ = environ
        self._state_dir = state_dir
        self._config_seen = False
        self._decided = threading.Event()  # whether config.yaml is read is known
        self._thread: threading.Thread | None = None
        self._interval = 0.0
        self.target: Target | None = None
        self.client: ManagementClient | None = None
        self._reads: live.Reads | None = None
        self._error: BaseException | None = None

    # -- told by the loader (its thread) ----------------------------------------------------

    def on_section(self, key: str, value: dict[str, Any] | None) -> None:
        """``yaml_io.OnSection``: never raises (a problem here is the load's to report)."""
        try:
            if key == "config":  # at its start: the config read goes out at once
                self._config_seen = True
                self._decided.set()
            elif key == "target" and value is not None and self._thread is None:
                self._start(value)
        except Exception as exc:  # a hint only: the load reports the real problems
            log.debug("no early reads: %s", type(exc).__name__)

    def _start(self, section: dict[str, Any]) -> None:
        opts, environ = self._opts, self._environ
        outside = key_given_outside(key_file=opts.key_file, key_arg=opts.key_arg, environ=environ)
        guess = _Section(
            self._path,
            _text(section.get("url")),
            outside if outside is not None else _key(section.get("management-key"), environ),
        )
        url, key = resolve_target(
            guess, url=opts.url, key_file=opts.key_file, key_arg=opts.key_arg, environ=environ
        )
        check_url(url, allow_insecure_http=opts.allow_insecure_http)
        self.target = Target(canonical_url(url), key, opts.ca_cert, opts.timeout)
        self.client = make_client(self.target, state_dir=self._state_dir(), announce=sys.stderr)
        self._thread = threading.Thread(target=self._read, name="cpa-prefetch", daemon=True)
        # Every system call of the reads gives the GIL up, and the loading thread holds it
        # again for up to the switch interval (5 ms) each time: the reads' dozens of calls
        # (locks, record, send, receive) took ~0.1 s longer than the server did. 0.5 ms while
        # both run.
        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_INTERVAL)
        self._thread.start()

    # -- the reads (their own thread) -------------------------------------------------------

    def _read(self) -> None:
        client = self.client
        assert client is not None  # pragma: no mutate: set before the thread starts
        try:
            with client.at_once() as known:
                if not known:
                    return  # an unproven key: the plan reads after the load, as ever

                def config() -> tuple[str, dict[str, Any]] | None:
                    self._decided.wait()
                    return live.read_config(client) if self._config_seen else None

                got, files = run_pair(config, lambda: live.read_files(client))
                self._reads = live.Reads(got, files)
        except BaseException as exc:  # handed to the plan by ``take``
            self._error = exc

    # -- the plan's side --------------------------------------------------------------------

    def take(self, target: Target, *, config: bool) -> tuple[ManagementClient, live.Reads] | None:
        """The client and the reads, when they were made for ``target`` (and with the config
        when ``config``: it is managed); the error they met is raised as the plan's own.
        None: nothing was read early, or for another target (dropped)."""
        if config:
            self._config_seen = True
        self._finish()
        client, reads, error = self.client, self._reads, self._error
        if client is None or self.target != target or (reads is None and error is None):
            return None
        self.client = None  # the caller's now
        if error is not None:
            client.close()
            raise error
        assert reads is not None  # pragma: no mutate: one of the two is set
        if config and reads.config is None:  # managed from a config-file: known only now
            reads = live.Reads(live.read_config(client), reads.files)
        return client, reads

    def _finish(self) -> None:
        self._decided.set()
        if self._thread is not None:
            self._thread.join()
            sys.setswitchinterval(self._interval)

    def close(self) -> None:
        """Wait for the reads in flight (the auth record is told how they went) and close
        the client unless ``take`` handed it over."""
        self._finish()
        if self.client is not None:
            self.client.close()
            self.client = None
