"""The :class:`Emulator`: a CPA v7.2.140 look-alike serving on a loopback thread.

Owns the lifecycle (state directory, first config.yaml, bind, serve, stop, clean-up) and the
Python API tests use to observe and disturb the server: the request log, fault injection,
token refresh, out-of-band edits of config.yaml and auth files, and unban.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import tempfile
import threading
import weakref
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.emulator import control, routes_oauth
from reconciler.emulator.access import AccessControl
from reconciler.emulator.auth_store import AuthStore
from reconciler.emulator.config_store import ConfigStore
from reconciler.emulator.defaults import (
    BUILD_DATE,
    COMMIT,
    MANAGEMENT_PREFIX,
    MINIMAL_CONFIG,
    VERSION,
)
from reconciler.emulator.faults import Fault, FaultPlan
from reconciler.emulator.oauth import OAuthSessions
from reconciler.emulator.request_log import RequestLog, RequestRecord
from reconciler.emulator.server import EmulatorHTTPServer
from reconciler.emulator.state import BuildInfo, EmulatorState


class Emulator:
    """A real HTTP server on loopback that answers like CPA v7.2.140.

    With ``tls_cert`` and ``tls_key`` (paths of PEM files) it serves HTTPS instead, the way
    CPA does with ``tls.enable: true``; ``url`` then starts with ``https://``.
    ``upstream_timeout`` is how long ``/api-call`` waits for the upstream (CPA: 60 s).
    """

    def __init__(
        self,
        state_dir: str | Path | None = None,
        *,
        management_key: str | None = "test-mgmt-key",
        host: str = "127.0.0.1",
        port: int = 0,
        ban_window: float = 1800.0,
        max_failures: int = 5,
        allow_remote: bool = False,
        config_yaml: str | None = None,
        version: str = VERSION,
        commit: str = COMMIT,
        build_date: str = BUILD_DATE,
        auth_cost: float = 0.0,
        upstream_timeout: float = 60.0,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        self._owns_dir = state_dir is None
        root = _temporary_dir() if state_dir is None else Path(state_dir)
        self.state_dir = root.absolute()
        self.config_path = self.state_dir / "config.yaml"
        self.auth_dir = self.state_dir / "auths"
        self._cleanup = weakref.finalize(self, _remove_tree, self.state_dir, self._owns_dir)
        self._settings = (management_key, host, port, allow_remote, config_yaml)
        self._tls = None if tls_cert is None or tls_key is None else (tls_cert, tls_key)
        self._state = EmulatorState(
            config=ConfigStore(self.config_path, self.auth_dir),
            auths=AuthStore(self.auth_dir),
            access=AccessControl(ban_window=ban_window, max_failures=max_failures),
            oauth=OAuthSessions(),
            faults=FaultPlan(),
            log=RequestLog(),
            build=BuildInfo(version, commit, build_date),
            auth_cost=auth_cost,
            upstream_timeout=upstream_timeout,
        )
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.auth_dir.mkdir(mode=0o700, exist_ok=True)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind, write/load config.yaml, and serve on a daemon thread."""
        if self._server is not None:
            return self
        key, host, port, allow_remote, config_yaml = self._settings
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.auth_dir.mkdir(mode=0o700, exist_ok=True)
        server = EmulatorHTTPServer((host, port), self._state, self._ssl_context())
        try:
            self._load_config(key, host, int(server.server_address[1]), allow_remote, config_yaml)
        except Exception:
            server.server_close()
            raise
        self._state.auths.scan()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"cpa-emulator-{server.server_address[1]}",
        )
        self._thread.start()
        return self

    def _ssl_context(self) -> ssl.SSLContext | None:
        """The server side of TLS when ``tls_cert``/``tls_key`` were given (PEM files)."""
        if self._tls is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile=str(self._tls[0]), keyfile=str(self._tls[1]))
        return context

    def _load_config(
        self, key: str | None, host: str, port: int, allow_remote: bool, config_yaml: str | None
    ) -> None:
        if config_yaml is not None:
            self._state.config.start(config_yaml, pin_auth_dir=True)
        elif self.config_path.exists() and self.config_path.read_text("utf-8").strip():
            self._state.config.start(self.config_path.read_text("utf-8"), pin_auth_dir=True)
        else:
            text = MINIMAL_CONFIG.format(
                host=json.dumps(host),
                port=port,
                allow_remote="true" if allow_remote else "false",
                secret_key=json.dumps(key or ""),
                auth_dir=json.dumps(str(self.auth_dir)),
            )
            self._state.config.start(text, pin_auth_dir=False)

    def stop(self) -> None:
        """Stop serving, close open connections, remove a temporary state dir."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        if self._owns_dir:
            self._cleanup()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        address = self._server.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        port = address[1]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{shown}:{port}"

    @property
    def management_url(self) -> str:
        return self.url + MANAGEMENT_PREFIX

    # -- observation -----------------------------------------------------------------------

    def requests(self) -> list[RequestRecord]:
        return self._state.log.records()

    def request_counts(self) -> Counter[tuple[str, str]]:
        return self._state.log.counts()

    def mutating_requests(self) -> list[RequestRecord]:
        return self._state.log.mutating()

    def reset_requests(self) -> None:
        self._state.log.reset()

    # -- disturbance -----------------------------------------------------------------------

    def inject_fault(
        self,
        method: str,
        path: str,
        *,
        nth: int = 1,
        times: int = 1,
        status: int | None = None,
        body: Any = None,
        delay: float = 0.0,
        drop: bool = False,
        truncate: bool = False,
    ) -> None:
        """The ``nth`` matching request from now (and ``times - 1`` after it) gets the fault."""
        fault = Fault(status=status, body=body, delay=delay, drop=drop, truncate=truncate)
        self._state.faults.add(method, path, nth=nth, times=times, fault=fault)

    def clear_faults(self) -> None:
        self._state.faults.clear()

    def refresh_auth_file(self, name: str) -> None:
        """Rotate the tokens of an auth file, as CPA's refresher does on its own."""
        record = self._state.auths.get(name)
        if record is None:
            raise KeyError(name)
        self._state.auths.refresh(record)

    def set_auth_state(self, name: str, **state: Any) -> None:
        """Put a credential into a state CPA reports in ``GET /auth-files``: ``disabled``,
        ``status`` (``error``...), ``status_message``, ``unavailable``, ``next_retry_after``
        (RFC 3339 or seconds from now), ``success``, ``failed``, ``recent`` (``[{"success":
        n, "failed": m}, ...]``, the last item the current ten minutes), ``last_refresh``.
        Fields left out keep their value. The control API's ``POST /_emulator/auth-state``."""
        control.apply_auth_state(self._state, name, state)

    def clear_auth_state(self, name: str) -> None:
        """Make a credential fresh and healthy again (its file is not touched)."""
        record = self._state.auths.get(name)
        if record is None:
            raise KeyError(name)
        self._state.auths.set_runtime(record, None)

    def config_yaml(self) -> str:
        return self.config_path.read_text("utf-8")

    def set_config_yaml(self, text: str) -> None:
        """Edit config.yaml out of band; the reload re-hashes a plaintext secret-key."""
        self._state.config.set_text(text)

    def read_auth_file(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.auth_dir / name).read_bytes())
        return data

    def write_auth_file(self, name: str, data: dict[str, Any]) -> None:
        """Write an auth file out of band (the watcher registers it without a write-back)."""
        self._state.auths.write_external(name, data, json.dumps(data).encode("utf-8"))

    def unban(self) -> None:
        self._state.access.unban()

    # -- OAuth logins ----------------------------------------------------------------------

    def set_oauth(self, **settings: Any) -> None:
        """Change the OAuth login settings (``oauth.OAuthSettings``): ``session_ttl`` (1800 s),
        ``finished_ttl`` (60 s), ``callback_timeout`` (300 s), ``take_delay`` (0.5 s),
        ``device_expires_in`` (600 s), ``offline`` (device flows answer 500, code exchanges
        fail, as on a server without internet), and the account the next login returns:
        ``email``, ``plan``, ``account_id``. The control API's ``POST /_emulator/oauth``."""
        control.set_oauth(self._state, settings)

    def oauth_sessions(self) -> list[dict[str, Any]]:
        """The login sessions the server holds (``GET /_emulator/oauth``)."""
        routes_oauth.settle(self._state)
        return [control.session_json(s) for s in self._state.oauth.sessions()]

    def approve_device_login(self, **approval: Any) -> dict[str, Any]:
        """Approve a device code as the person would (``user_code`` or ``state``; ``email``,
        ``plan``; ``deny=True`` refuses it). The control API's ``POST /_emulator/oauth/approve``."""
        status, answer = routes_oauth.approve_device(self._state, approval)
        if status != 200:
            raise KeyError(answer["error"])
        return answer


def _temporary_dir() -> Path:
    """A fresh temporary state dir, on tmpfs (``/dev/shm``) when there is one: much faster."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
    return Path(tempfile.mkdtemp(prefix="cpa-emulator-", dir=base))


def _remove_tree(path: Path, owned: bool) -> None:
    if owned:
        shutil.rmtree(path, ignore_errors=True)
