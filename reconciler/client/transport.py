"""The request machinery under ``ManagementClient``: one place that talks HTTP to CPA.

``Session`` owns the ``httpx.Client`` and every rule that applies to all endpoints:

* **Authentication.** ``Authorization: Bearer <key>`` on every management request, built as
  bytes so the key never reaches an encoder error message. A missing or empty key raises
  ``UnauthorizedError`` (status None) *before* anything is sent: CPA counts a request without
  a key as a failed attempt.
* **Ban safety.** After a 401 or 403 the session is *halted*: every later authenticated call
  raises the same error class without sending, until ``reset()`` or ``set_management_key()``.
  Until one authenticated request has succeeded with the current key, authenticated requests
  go out one at a time, so concurrent callers cannot spend several failed attempts at once.
  The one exception is ``together``: two requests sent at once when the auth guard's record
  says this very key passed on this target last time and nothing failed since (at worst two
  failed attempts, when the key was changed on the server meanwhile; CPA bans at five).
* **Server version.** ``X-CPA-VERSION`` / ``X-SERVER-VERSION``, ``X-CPA-BUILD-DATE`` /
  ``X-SERVER-BUILD-DATE``, ``X-CPA-COMMIT`` and ``X-CPA-SUPPORT-PLUGIN`` are read from every
  answer, errors included.
* **Retries.** Only where the caller allows it (by default: GET). Two retries, after 0.2 s and
  0.5 s, when the connection failed or broke, when a JSON answer was cut off, or on 5xx. A
  read timeout is not retried (the server may be busy; trying again triples the wait).
* **Bounds.** ``timeout`` is a *total* deadline for each attempt: connecting, sending and
  reading the whole answer (a server that sends one byte a second cannot hold a request
  open). Answers are read as a stream and refused past a size limit (``answer_limit``:
  256 MiB for the listings, config and logs; 16 MiB otherwise; error answers are cut at
  1 MiB), so an endless body cannot exhaust memory.
* **Proxies.** A loopback target is always reached directly: the management key never goes
  through a proxy on the way to 127.0.0.1. Any other target uses the proxy the environment
  names (``HTTPS_PROXY``/``HTTP_PROXY``, then ``ALL_PROXY``; ``NO_PROXY`` honoured), see
  ``proxy_for``; ``Session.proxy`` says which one.
* **Failed authentications across processes.** An optional ``AuthGuard`` (the state
  directory's record, ``reconciler.statedir.auth_record``) is consulted before the first
  authenticated request of a key and told how it went, under a lock held across the request.
* **Errors** are translated once, here, into ``reconciler.errors`` (see ``client_errors``).
  A body that should be JSON but is not: ``UnreachableError`` when it looks cut off (starts
  like JSON), ``ApiError`` otherwise (e.g. an HTML page from something that is not CPA). A
  file answer (config.yaml, an auth file) labelled as a web page (``text/html``) is an
  ``ApiError`` too.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import ipaddress
import json
import logging
import os
import re
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from reconciler import errors
from reconciler.client.errors import (
    ban_seconds,
    describe_exception,
    error_from_response,
    redact,
)
from reconciler.client.models import ServerVersion

__all__ = [
    "ERROR_ANSWER_LIMIT",
    "LARGE_ANSWER_LIMIT",
    "MANAGEMENT_PREFIX",
    "SMALL_ANSWER_LIMIT",
    "AuthGuard",
    "AuthOutcome",
    "Expect",
    "ProxyChoice",
    "Redactions",
    "Reply",
    "Session",
    "answer_limit",
    "is_local_host",
    "normalize_api_base",
    "parse_model",
    "proxy_for",
    "server_version_from_headers",
]

log = logging.getLogger(__name__)


def _user_agent() -> str:
    try:
        return f"cpa-reconciler/{importlib.metadata.version('cpa-reconciler')}"
    except importlib.metadata.PackageNotFoundError:
        return "cpa-reconciler"


MANAGEMENT_PREFIX = "/v0/management"
RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5)

#: How to read a successful answer: parsed JSON, text, bytes, or a file (the YAML config as
#: text, a JSON auth file as bytes) that must not come labelled as a web page. ``call`` also
#: takes a model class: JSON validated by it straight from the bytes.
Expect = Literal["json", "text", "bytes", "yaml", "json-file"]
_FILE_EXPECTS = ("yaml", "json-file")
_WEB_PAGE_TYPES = ("text/html", "application/xhtml+xml")
QueryParams = Sequence[tuple[str, str]]
FileParts = Sequence[tuple[str, tuple[str, bytes, str]]]

_VERSION_HEADERS = ("x-cpa-version", "x-server-version")
_BUILD_DATE_HEADERS = ("x-cpa-build-date", "x-server-build-date")
_COMMIT_HEADERS = ("x-cpa-commit",)
_PLUGIN_HEADERS = ("x-cpa-support-plugin",)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NOT_RETRIED = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)

MiB = 1024 * 1024
#: GET /auth-files, the config and the logs: 10,000 auth files list as ~16 MB.
LARGE_ANSWER_LIMIT = 256 * MiB
#: Every other answer (one auth file, a setting, the result of a write).
SMALL_ANSWER_LIMIT = 16 * MiB
#: An error answer: only its first 300 characters are ever shown.
ERROR_ANSWER_LIMIT = 1 * MiB
_LARGE_PATHS = ("/auth-files", "/config", "/config.yaml", "/logs", "/request-error-logs")
_LARGE_PREFIXES = ("/request-error-logs/", "/request-log-by-id/")
_CHUNK = 64 * 1024


def answer_limit(method: str, path: str) -> int:
    """The largest successful answer read for ``method path`` (``path`` under management)."""
    if method == "GET" and (path in _LARGE_PATHS or path.startswith(_LARGE_PREFIXES)):
        return LARGE_ANSWER_LIMIT
    return SMALL_ANSWER_LIMIT


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit >= MiB else f"{limit} bytes"


# -- the deadline --------------------------------------------------------------------------
#
# httpx's timeouts apply to each read, so a server that trickles one byte a second never
# trips them. The network streams below clamp every connect, read and write to what is left of
# the deadline of the request running on this thread, headers included.


class _Deadline(threading.local):
    at: float | None = None


_DEADLINE = _Deadline()


def _clamp(timeout: float | None, expired: type[Exception]) -> float | None:
    at = _DEADLINE.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host,
            port,
            _clamp(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _clamp(timeout, httpcore.ConnectTimeout), socket_options=socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline_transport(verify: bool | ssl.SSLContext, proxy: str | None) -> httpx.HTTPTransport:
    """httpx's own transport, its connections clamped to the request's deadline."""
    transport = httpx.HTTPTransport(verify=verify, proxy=proxy)
    pool = transport._pool  # httpcore's pool (or proxy pool): the one place sockets are made
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


# -- proxies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyChoice:
    """The proxy a target is reached through, and the environment variable that named it."""

    url: str = field(repr=False)
    variable: str

    @property
    def shown(self) -> str:
        """The proxy URL with any ``user:password@`` masked."""
        return mask_userinfo(self.url)


def mask_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a proxy URL that cannot be parsed)"
    if ":" in host:
        host = f"[{host}]"
    auth = "***@" if "@" in parts.netloc else ""
    return f"{parts.scheme}://{auth}{host}{port}"


def is_local_host(host: str) -> bool:
    """``localhost`` or a loopback (or unspecified, which connects locally) address."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_loopback or address.is_unspecified


def proxy_for(origin: str, environ: Mapping[str, str] | None = None) -> ProxyChoice | None:
    """The proxy ``origin`` is reached through: None for a loopback host, always; else the
    environment's ``<scheme>_proxy`` then ``all_proxy`` (lower case first, as curl and Python
    read them), unless ``no_proxy`` names the host (``*``, a name or a domain suffix, an
    address or a CIDR network)."""
    env = os.environ if environ is None else environ
    parts = urlsplit(origin)
    host = parts.hostname or ""
    if is_local_host(host):
        return None
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    if no_proxy and _bypassed(host, parts.port, no_proxy):
        return None
    for name in (f"{parts.scheme}_proxy", "all_proxy"):
        for variable in (name, name.upper()):
            value = env.get(variable, "").strip()
            if value:
                return ProxyChoice(value if "://" in value else f"http://{value}", variable)
    return None


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``no_proxy`` names ``host`` as curl reads it: ``*``; a name, which also covers
    its subdomains (a leading dot is ignored); an address or a CIDR network; each optionally
    with ``:port``."""
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_port: str | None = None
        if entry.startswith("["):  # [::1]:8317
            entry, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:  # name:port or 1.2.3.4:port
            entry, entry_port = entry.split(":")
        if entry_port and str(port or "") != entry_port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


# -- failed authentications across processes -------------------------------------------------

#: How the first authenticated request of a key went: ``ok`` (the key passed CPA's check),
#: ``refused`` (401: a failed attempt CPA counts), ``banned`` (403: the IP is banned), or
#: ``unknown`` (no answer, or an answer that says nothing about the key).
AuthOutcome = Literal["ok", "refused", "banned", "unknown"]

_A = TypeVar("_A")
#: The values masked in error messages besides the key, or a function giving them (called at
#: the first error, so that a run that meets none never collects them).
Redactions = Iterable[str] | Callable[[], Iterable[str]]
_B = TypeVar("_B")


class AuthGuard(Protocol):
    """What the session asks before the first authenticated request of a key.

    ``before`` takes a lock shared by every process using the same record and raises (an
    ``UnauthorizedError`` or ``BannedError`` with no status: nothing was sent) when the record
    says this key must not be tried now; ``after`` records the outcome and releases the lock.
    ``after`` may also be called without ``before`` (a refusal later in a run). ``before``
    returns True when the record knows ``key`` as the key that last passed on this target,
    with no failure since: the session may then send two first requests at once.
    """

    def before(self, key: str, method: str, endpoint: str) -> bool: ...

    def after(self, key: str, outcome: AuthOutcome, ban_seconds: float | None) -> None: ...


def normalize_api_base(api_base: str) -> str:
    """Return the origin of ``api_base`` the way ZeroLimit does.

    Trim, strip trailing ``/`` and a trailing ``/v0/management``, add ``http://`` when there is
    no scheme. ``http://h:8317/v0/management/`` and ``h:8317`` both give ``http://h:8317``.
    """
    base = (api_base or "").strip()
    has_scheme = _SCHEME.match(base) is not None
    base = base.rstrip("/")
    if base.lower().endswith(MANAGEMENT_PREFIX):
        base = base[: -len(MANAGEMENT_PREFIX)].rstrip("/")
    if base and not has_scheme:
        base = f"http://{base}"
    try:
        url = httpx.URL(base)
        urlsplit(base).port  # noqa: B018 (raises ValueError for a port out of range)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise errors.UsageError(f"CPA URL {api_base!r} is not a valid URL.") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise errors.UsageError(
            f"CPA URL {api_base!r} must be an http:// or https:// address with a host, "
            "e.g. http://127.0.0.1:8317."
        )
    return base


def _first_header(headers: httpx.Headers, names: Sequence[str]) -> str | None:
    for name in names:
        for value in headers.get_list(name):
            if value.strip():
                return value.strip()
    return None


def server_version_from_headers(headers: httpx.Headers) -> ServerVersion | None:
    """The ``ServerVersion`` the headers announce, or None when they carry none."""
    version = _first_header(headers, _VERSION_HEADERS)
    build_date = _first_header(headers, _BUILD_DATE_HEADERS)
    commit = _first_header(headers, _COMMIT_HEADERS)
    plugin = _first_header(headers, _PLUGIN_HEADERS)
    if version is None and build_date is None and commit is None and plugin is None:
        return None
    normalized = version
    if version and version[0] in "vV" and version[1:2].isdigit():
        normalized = version[1:]
    support = None if plugin is None else plugin.lower() in ("1", "true", "yes")
    return ServerVersion(
        version=version,
        normalized=normalized,
        commit=commit,
        build_date=build_date,
        support_plugin=support,
    )


CA_BUNDLE_LIMIT = 1024 * 1024
"""The most a ``--ca-cert`` file may hold (the whole Mozilla bundle is about 250 KiB)."""


_CONTEXTS: dict[tuple[str, ...], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()
_CONTEXTS_KEPT = 16


def _shared_context(key: tuple[str, ...], build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """The process's one TLS context for ``key``, built at its first use (~25 ms: loading the
    CA certificates), so that the ten clients of a fleet do not build ten identical ones. A
    context is not changed once built (httpcore sets the same ALPN protocols on it at every
    connection), so clients share it; one that fails to build is not kept."""
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            if len(_CONTEXTS) >= _CONTEXTS_KEPT:  # a long-lived process meeting many bundles
                _CONTEXTS.clear()
            context = _CONTEXTS[key] = build()
        return context


def _no_tls_context() -> ssl.SSLContext:
    """The context of a session that never speaks TLS (plain http, no proxy, no redirects
    followed): verifying, with no certificate loaded, so that it trusts nothing should it
    ever be used, and costs none of the ~20 ms of loading the default CAs."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _verify_option(verify: bool | str) -> ssl.SSLContext:
    """The TLS context for ``verify``: True, httpx's default verification (certifi's CAs, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set); False, none; a path, the ``--ca-cert``
    bundle file or directory. Shared per setting and bundle content (``_shared_context``)."""
    if isinstance(verify, bool):
        environ = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
        key = ("default", *environ) if verify else ("none",)
        return _shared_context(key, lambda: httpx.create_ssl_context(verify=verify))
    try:
        if os.path.isdir(verify):
            path = verify
            return _shared_context(
                ("capath", path), lambda: ssl.create_default_context(capath=path)
            )
        pem = _read_ca_bundle(verify)
        if not pem.strip():
            raise errors.UsageError(f"CA bundle {verify!r} cannot be loaded: it is empty.")
        return _shared_context(("cadata", pem), lambda: ssl.create_default_context(cadata=pem))
    except ssl.SSLError as exc:
        raise errors.UsageError(
            f"CA bundle {verify!r} cannot be loaded: no PEM certificate could be read from it "
            f"({exc.reason or exc})."
        ) from exc
    except OSError as exc:
        raise errors.UsageError(f"CA bundle {verify!r} cannot be loaded: {exc}.") from exc


def _read_ca_bundle(path: str) -> str:
    """The PEM text of a CA bundle file, read bounded as every file a person names is
    (``reconciler.local_files``, which the client does not import): a FIFO, a device (a read
    that would block or never end) or a file over ``CA_BUNDLE_LIMIT`` is refused unread.
    Anything but ASCII (a label in a comment between certificates) is dropped: PEM is ASCII."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # a device is refused before it is opened
        raise errors.UsageError(f"CA bundle {path!r} is not a regular file.")
    # O_NONBLOCK: a FIFO swapped in after the stat opens at once instead of waiting for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise errors.UsageError(f"CA bundle {path!r} is not a regular file.")
        data = file.read(CA_BUNDLE_LIMIT + 1)
    if len(data) > CA_BUNDLE_LIMIT:
        raise errors.UsageError(
            f"CA bundle {path!r} is larger than the {CA_BUNDLE_LIMIT // 1024 // 1024} MiB limit "
            "for a CA bundle; name the file of the CA that signed CPA's certificate."
        )
    return data.decode("ascii", errors="ignore")


@dataclass(frozen=True)
class Reply:
    """A successful answer: status and decoded body (JSON value, text or bytes)."""

    status: int
    body: Any


@dataclass(frozen=True)
class _Halt:
    cls: type[errors.ApiError]
    status: int | None
    code: str | None
    where: str


class Session:
    """HTTP session to one CPA server. Thread-safe; see the module docstring for the rules."""

    def __init__(
        self,
        origin: str,
        management_key: str | None,
        *,
        timeout: float,
        verify: bool | str,
        on_server_version: Callable[[ServerVersion], object] | None,
        on_unauthorized: Callable[[errors.UnauthorizedError], object] | None,
        transport: httpx.BaseTransport | None,
        redact: Redactions = (),
        auth_guard: AuthGuard | None = None,
    ) -> None:
        self.origin = origin
        self._key = SecretStr((management_key or "").strip())
        self._on_server_version = on_server_version
        self._on_unauthorized = on_unauthorized
        self._redact: Redactions = redact if callable(redact) else tuple(redact)
        self._guard = auth_guard
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS
        self.timeout = timeout
        self.proxy = proxy_for(origin)
        if transport is None:
            try:
                plain = verify is True and self.proxy is None and origin.startswith("http:")
                context = _no_tls_context() if plain else _verify_option(verify)
                transport = _deadline_transport(context, self.proxy.url if self.proxy else None)
            except (ImportError, ValueError, httpx.InvalidURL) as exc:
                assert self.proxy is not None  # only a proxy URL can be refused here
                raise errors.UsageError(
                    f"the proxy {self.proxy.shown} named by {self.proxy.variable} cannot be "
                    f"used ({type(exc).__name__}: {_first_line(exc)}); fix it or add the host "
                    "to NO_PROXY"
                ) from exc
        # The transport is explicit: httpx reads no proxy from the environment itself.
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": _user_agent()},
        )
        self._state_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._open_window: list[errors.ApiError] | None = None  # see ``at_once``
        self._verified = False
        self._halt: _Halt | None = None
        self.request_count = 0
        self.server_version: ServerVersion | None = None

    # -- key and halt state ---------------------------------------------------------------

    @property
    def key(self) -> SecretStr:
        """The management key, masked in repr and str."""
        return self._key

    @property
    def halted(self) -> bool:
        """True after a 401/403, until ``reset()`` or ``set_key()``."""
        return self._halt is not None

    def set_key(self, management_key: str | None) -> None:
        """Use a new key and lift the halt."""
        with self._state_lock:
            self._key = SecretStr((management_key or "").strip())
            self._halt = None
            self._verified = False

    def reset(self) -> None:
        """Lift the halt; the next request tries the current key again."""
        with self._state_lock:
            self._halt = None
            self._verified = False

    def set_redactions(self, values: Redactions) -> None:
        """Values (besides the key) masked in every error message: the secrets the caller
        holds, which a server may quote back in an error text (or a function giving them,
        called at the first error)."""
        self._redact = values if callable(values) else tuple(values)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- public request entry points ------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        files: FileParts | None = None,
        content_type: str | None = None,
        expect: Expect | type[BaseModel] = "json",
        retry: bool | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Send an authenticated management request and return its successful answer.

        ``path`` is relative to ``/v0/management``. ``retry`` defaults to True for GET.
        ``timeout`` replaces the session's deadline for this request (``api-call`` waits for
        CPA's own 60 s upstream timeout).
        ``expect`` a model class: the body is that model, validated by pydantic's own JSON
        parser straight from the bytes, so that fields the model does not declare are skipped
        rather than built (``ApiError`` when the shape does not fit, as ``parse_model``).
        """
        endpoint = MANAGEMENT_PREFIX + path
        self._check_may_send(method, endpoint)
        request = self._build(method, endpoint, params, json_body, content, files, content_type)
        if timeout is not None:
            request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        delays = self.retry_delays if (method == "GET" if retry is None else retry) else ()
        with self._gate(method, endpoint):
            return self._send_with_retries(request, method, endpoint, expect, delays, timeout)

    @contextlib.contextmanager
    def at_once(self) -> Iterator[bool]:
        """A window in which this session's requests, from any thread, go out at once, with
        no one-at-a-time probe, when the key is known to work (True); else False, and
        requests go out as ever. The caller sends at most two requests in the window.

        Known to work: a request with this key already passed in this session, or the auth
        guard says it passed on this target last time with no failure since. The guard's
        lock is then held until the window closes (other runs wait for the outcome), and it
        is told how the requests went: a pass if one passed, else the first refusal, and a
        second 401 as the second failed attempt it was. A key changed on the server meanwhile
        thus costs two failed attempts, not one, and the next runs send one at a time again.
        """
        guard = self._guard
        if self._verified or guard is None:
            yield self._verified
            return
        key = self._key.get_secret_value()
        with self._probe_lock:
            if self._verified:
                known = True
            else:
                self._check_may_send("GET", MANAGEMENT_PREFIX)
                known = guard.before(key, "GET", MANAGEMENT_PREFIX)
                if not known:
                    guard.after(key, "unknown", None)  # nothing sent: the lock released
                elif not self._verified:
                    yield from self._window(guard, key)
                    return
        yield known

    def _window(self, guard: AuthGuard, key: str) -> Iterator[bool]:
        """``at_once`` with the guard's lock held: requests pass ``_gate`` unprobed, their
        refusals collected, and the guard told at the end."""
        met: list[errors.ApiError] = []
        self._open_window = met
        try:
            yield True
        finally:
            self._open_window = None
            said = [o for o in map(_auth_outcome, met) if o[0] != "unknown"]
            outcome: AuthOutcome = said[0][0] if said else "unknown"
            seconds = said[0][1] if said else None
            guard.after(key, "ok" if self._verified else outcome, seconds)
            if not self._verified and [o for o, _ in said].count("refused") > 1:
                guard.after(key, "refused", None)

    def together(self, first: Callable[[], _A], second: Callable[[], _B]) -> tuple[_A, _B]:
        """``first()`` and ``second()`` (each a request of this session, and what is done
        with its answer), at once when the key is known to work (``at_once``), else one
        after the other, the first alone probing the key; their answers, or the first error
        (in call order) once both are done."""
        with self.at_once() as known:
            if known:
                return run_pair(first, second)
        answer = first()
        return answer, second()

    def healthz(self) -> bool:
        """GET ``/healthz`` without a key; True on 200, False on any other answer or none."""
        request = self._http.build_request("GET", f"{self.origin}/healthz")
        try:
            response = self._exchange(request, "GET", "/healthz", limit=ERROR_ANSWER_LIMIT)
        except (httpx.HTTPError, errors.ApiError) as exc:
            log.debug("GET /healthz: %s", exc)
            return False
        self._note_version(response.headers)
        return response.status_code == 200

    # -- internals --------------------------------------------------------------------------

    def _check_may_send(self, method: str, endpoint: str) -> None:
        halt = self._halt
        if halt is not None:
            refusal = f"{halt.status} {halt.code}" if halt.code else str(halt.status)
            raise halt.cls(
                f"{method} {endpoint}: not sent: this client is halted since {halt.where} was "
                f"refused ({refusal}). CPA bans the client IP after 5 failed authentications, "
                "so no further request is sent: check the management key and run again "
                "(from Python: set_management_key(new_key), or reset() to try again).",
                status=halt.status,
                code=halt.code,
                method=method,
                endpoint=endpoint,
            )
        key = self._key.get_secret_value()
        if not key:
            raise errors.UnauthorizedError(
                f"{method} {endpoint}: not sent: no management key is set. CPA counts a request "
                "without a key as a failed attempt (5 ban the IP for 30 minutes); give the key "
                "to ManagementClient or call set_management_key().",
                method=method,
                endpoint=endpoint,
            )
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
            raise errors.UnauthorizedError(
                f"{method} {endpoint}: not sent: the management key contains control "
                "characters (a stray newline in a key file?).",
                method=method,
                endpoint=endpoint,
            )

    def _build(
        self,
        method: str,
        endpoint: str,
        params: QueryParams | None,
        json_body: Any,
        content: bytes | None,
        files: FileParts | None,
        content_type: str | None,
    ) -> httpx.Request:
        # Bytes, so that no encoder error can ever quote the key.
        headers = {
            b"Authorization": b"Bearer " + self._key.get_secret_value().encode("utf-8"),
            b"Accept": b"application/json, */*;q=0.5",
        }
        if content_type:
            headers[b"Content-Type"] = content_type.encode("ascii")
        return self._http.build_request(
            method,
            self.origin + endpoint,
            params=list(params) if params is not None else None,
            json=json_body,
            content=content,
            files=files,
            headers=headers,
        )

    @contextlib.contextmanager
    def _gate(self, method: str, endpoint: str) -> Iterator[None]:
        """Serialise requests until the current key is known to work; ask the auth guard
        (other processes' failed attempts) before the first one, and tell it how it went."""
        guard = self._guard
        key = self._key.get_secret_value()
        window = self._open_window
        if window is not None:  # ``at_once`` holds the guard and tells it how it went
            try:
                yield
            except errors.ApiError as exc:
                window.append(exc)
                raise
            return
        if self._verified:
            try:
                yield
            except errors.ApiError as exc:
                late, late_seconds = _auth_outcome(exc)
                if guard is not None and late != "unknown":
                    guard.after(key, late, late_seconds)  # the key stopped working mid-run
                raise
            return
        with self._probe_lock:
            self._check_may_send(method, endpoint)
            if guard is None or self._verified:
                yield
                return
            guard.before(key, method, endpoint)
            outcome: AuthOutcome = "unknown"
            seconds: float | None = None
            try:
                yield
            except errors.ApiError as exc:
                outcome, seconds = _auth_outcome(exc)
                raise
            finally:
                guard.after(key, "ok" if self._verified else outcome, seconds)

    def _send_with_retries(
        self,
        request: httpx.Request,
        method: str,
        endpoint: str,
        expect: Expect | type[BaseModel],
        delays: Sequence[float],
        timeout: float | None = None,
    ) -> Reply:
        for delay in (*delays, None):
            try:
                return self._send_once(request, method, endpoint, expect, timeout)
            except (errors.ServerError, errors.UnreachableError) as err:
                if delay is None or isinstance(err.__cause__, _NOT_RETRIED) or _is_tls(err):
                    raise
                log.info("%s %s failed (%s); retrying in %.1f s", method, endpoint, err, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self,
        request: httpx.Request,
        method: str,
        endpoint: str,
        expect: Expect | type[BaseModel],
        timeout: float | None = None,
    ) -> Reply:
        started = time.monotonic()
        path = endpoint.removeprefix(MANAGEMENT_PREFIX)
        limit = answer_limit(method, path)
        seconds = self.timeout if timeout is None else timeout
        try:
            response = self._exchange(request, method, endpoint, limit, seconds)
        except httpx.HTTPError as exc:
            what = describe_exception(exc)
            if isinstance(exc, httpx.TimeoutException):
                what = f"no complete answer within the {seconds:g} s timeout ({what})"
            raise self._unreachable(method, endpoint, what) from exc
        log.debug(
            "%s %s -> %d (%.0f ms)",
            method,
            endpoint,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        self._note_version(response.headers)
        if response.status_code not in (401, 403, 404):
            self._verified = True  # the key passed CPA's check
        if response.is_success:
            return Reply(response.status_code, self._decode(response, method, endpoint, expect))
        raise self._refused(response, method, endpoint)

    def _exchange(
        self,
        request: httpx.Request,
        method: str,
        endpoint: str,
        limit: int,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send ``request`` and read its whole answer, within the deadline and the size limit.

        The answer comes back fully read (``content`` usable). A success larger than
        ``limit`` is an ``ApiError`` naming the endpoint and the limit; an error answer is cut
        at ``ERROR_ANSWER_LIMIT`` (only its start is ever shown).
        """
        _DEADLINE.at = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            try:
                response = self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                self._count(exc)
                raise
            self._count(None)
            try:
                body = self._read_body(response, method, endpoint, limit)
            finally:
                response.close()
        finally:
            _DEADLINE.at = None
        # raw bytes: a header holding UTF-8 (CPA echoes a file name) must not be re-encoded
        headers = [
            (k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in _RAW
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions={"reason_phrase": response.reason_phrase.encode("ascii", "replace")},
        )

    def _read_body(self, response: httpx.Response, method: str, endpoint: str, limit: int) -> bytes:
        success = response.is_success
        cap = limit if success else ERROR_ANSWER_LIMIT
        declared = response.headers.get("content-length", "")
        if success and declared.isdigit() and int(declared) > cap:
            raise self._too_large(response, method, endpoint, cap)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes(_CHUNK):
            size += len(chunk)
            if size > cap:
                if not success:
                    chunks.append(chunk[: len(chunk) - (size - cap)])
                    break
                raise self._too_large(response, method, endpoint, cap)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(
        self, response: httpx.Response, method: str, endpoint: str, limit: int
    ) -> errors.ApiError:
        return errors.ApiError(
            f"{method} {endpoint}: the answer is larger than {_size(limit)}, the most this "
            f"client reads from that endpoint; nothing more was read. Is {self.origin} a CPA "
            "server?",
            status=response.status_code,
            method=method,
            endpoint=endpoint,
        )

    def _count(self, exc: Exception | None) -> None:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return  # nothing reached the server
        with self._state_lock:
            self.request_count += 1

    def _secrets(self) -> list[str]:
        redactions = self._redact
        if callable(redactions):  # computed at the first error only (a walk of the state)
            redactions = self._redact = tuple(redactions())
        return [self._key.get_secret_value(), *redactions]

    def _unreachable(self, method: str, endpoint: str, what: str) -> errors.UnreachableError:
        error = errors.UnreachableError(
            f"{method} {endpoint}: no answer from {self.origin}: {what}.",
            method=method,
            endpoint=endpoint,
        )
        redact(error, self._secrets())
        return error

    def _refused(self, response: httpx.Response, method: str, endpoint: str) -> errors.ApiError:
        error = redact(error_from_response(response, method, endpoint), self._secrets())
        if response.status_code in (401, 403):
            with self._state_lock:
                if self._halt is None:
                    self._halt = _Halt(
                        type(error), error.status, error.code, f"{method} {endpoint}"
                    )
                self._verified = False
            if isinstance(error, errors.UnauthorizedError) and self._on_unauthorized:
                self._on_unauthorized(error)
        return error

    def _decode(
        self,
        response: httpx.Response,
        method: str,
        endpoint: str,
        expect: Expect | type[BaseModel],
    ) -> Any:
        if isinstance(expect, type):
            try:
                return expect.model_validate_json(response.content)
            except ValidationError:
                # Worded as any answer is: cut off, not JSON, or the field that does not fit.
                data = self._decode(response, method, endpoint, "json")
                return parse_model(expect, data, method, endpoint)
        if expect in _FILE_EXPECTS:
            self._check_not_a_page(response, method, endpoint, expect)
        if expect == "yaml" and _is_json_answer(response):
            raise errors.ApiError(
                f"{method} {endpoint}: {response.status_code} with a JSON answer, not the YAML "
                f"file that was asked for; is {self.origin} a CPA server?",
                status=response.status_code,
                method=method,
                endpoint=endpoint,
            )
        if expect in ("bytes", "json-file"):
            return response.content
        if expect in ("text", "yaml"):
            return response.text
        text = response.text
        try:
            return json.loads(text)
        except RecursionError:
            raise errors.ApiError(
                f"{method} {endpoint}: {response.status_code} with a JSON answer nested too "
                f"deeply to read; is {self.origin} a CPA server?",
                status=response.status_code,
                method=method,
                endpoint=endpoint,
            ) from None
        except ValueError as exc:
            if text.lstrip()[:1] in ("{", "["):
                raise self._unreachable(method, endpoint, "the JSON answer was cut off") from exc
            kind = response.headers.get("content-type", "no content type")
            error = errors.ApiError(
                f"{method} {endpoint}: {response.status_code} with a body that is not JSON "
                f"({kind}); is {self.origin} a CPA server?",
                status=response.status_code,
                method=method,
                endpoint=endpoint,
            )
            raise error from exc

    def _check_not_a_page(
        self, response: httpx.Response, method: str, endpoint: str, expect: Expect
    ) -> None:
        """A file answer must not be a web page (a login or error page of a proxy)."""
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in _WEB_PAGE_TYPES:
            return
        raise errors.ApiError(
            f"{method} {endpoint}: {response.status_code} with a web page ({kind}), not the "
            f"{'YAML' if expect == 'yaml' else 'JSON'} file that was asked for; is "
            f"{self.origin} a CPA server?",
            status=response.status_code,
            method=method,
            endpoint=endpoint,
        )

    def _note_version(self, headers: httpx.Headers) -> None:
        seen = server_version_from_headers(headers)
        if seen is None:
            return
        with self._state_lock:
            if seen == self.server_version:
                return
            self.server_version = seen
        if self._on_server_version is not None:
            self._on_server_version(seen)


def run_pair(first: Callable[[], _A], second: Callable[[], _B]) -> tuple[_A, _B]:
    """``second()`` in a thread of its own while ``first()`` runs in this one; both answers,
    or the first error (in call order) once both are done."""
    answers: list[Any] = [None, None]
    raised: list[BaseException | None] = [None, None]

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            answers[index] = call()
        except BaseException as exc:  # raised again below, in call order
            raised[index] = exc

    worker = threading.Thread(target=run, args=(1, second), name="cpa-pair", daemon=True)
    worker.start()
    run(0, first)
    worker.join()
    for exc in raised:
        if exc is not None:
            raise exc
    return answers[0], answers[1]


def _auth_outcome(exc: errors.ApiError) -> tuple[AuthOutcome, float | None]:
    """What an error answer says about the key: a counted failure, a ban, or nothing."""
    if isinstance(exc, errors.BannedError) and exc.status == 403:
        return "banned", ban_seconds(exc)
    if isinstance(exc, errors.UnauthorizedError) and exc.status == 401:
        return "refused", None
    return "unknown", None


#: Headers that describe the bytes on the wire, not the decoded body kept in memory.
_RAW = ("content-encoding", "content-length", "transfer-encoding")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _is_json_answer(response: httpx.Response) -> bool:
    """A JSON document labelled JSON: some API's answer (``{"error": ...}`` from a gateway), not
    config.yaml, which CPA labels ``application/yaml``. Taken for the config, it would be
    rewritten and PUT back in place of the real one."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return False
    try:
        json.loads(response.text)
    except ValueError:
        return False
    return True


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any, method: str, endpoint: str) -> M:
    """Validate an answer against ``model``; a mismatch is an ``ApiError`` naming the field.

    The message names the field and the problem, never the value (it may be a secret).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise errors.ApiError(
            f"{method} {endpoint}: the answer does not have the expected shape "
            f"({exc.error_count()} problem(s); {where}: {first['msg']}). Is the server a "
            "compatible CPA version?",
            method=method,
            endpoint=endpoint,
        ) from exc


def _is_tls(err: BaseException) -> bool:
    """A TLS failure (bad certificate, wrong protocol): trying again cannot help."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
