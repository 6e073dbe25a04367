"""The pipeline every command shares: desired state + target -> client -> live -> plan.

This module wires adapters around the pure core; it decides nothing the core decides. It also
owns the target rules (TLS verified by default, plain http only to loopback unless allowed)
and the keyed fingerprints that make a saved plan refusable when it went stale.
"""

from __future__ import annotations

import hashlib
import ipaddress
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.client.transport import ProxyChoice, Redactions
from reconciler.core import auth_diff, secrets
from reconciler.core.model import DesiredState, LiveState
from reconciler.core.plan import Plan, PlanOptions, make_plan
from reconciler.core.safety import SafetyOptions
from reconciler.desired.loader import LoadedDesired, load_desired, resolve_target
from reconciler.desired.yaml_io import OnSection
from reconciler.pipeline import live
from reconciler.statedir.auth_record import AuthRecord

# Seeds mark uploaded files; they sit next to the tokens on the server, so no key is needed.
SEED_KEY = b"cpa-reconciler/seed/v1"


@dataclass(frozen=True)
class Target:
    url: str
    key: str
    ca_cert: str | None = None
    timeout: float = 30.0

    @property
    def is_loopback(self) -> bool:
        return is_loopback_url(self.url)

    @property
    def fingerprint_key(self) -> bytes:
        """The HMAC key for fingerprints: derived from the management key, never stored."""
        return hashlib.sha256(b"cpa-reconciler/fingerprint/v1\0" + self.key.encode()).digest()


@dataclass(frozen=True)
class TargetOptions:
    url: str | None = None
    key_file: str | None = None
    key_arg: str | None = None
    ca_cert: str | None = None
    allow_insecure_http: bool = False
    timeout: float = 30.0


def canonical_url(url: str) -> str:
    """One spelling per server: scheme and host in lower case, no default port, no trailing
    ``/`` or ``/v0/management``. A plan made for ``http://127.0.0.1:8317/`` is then a plan for
    ``HTTP://127.0.0.1:8317``, and ``https://cpa.example.com:443`` is ``https://cpa.example.com``.
    Anything it cannot parse is returned as given (``check_url`` refuses it)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return url
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    if path.lower().endswith("/v0/management"):
        path = path[: -len("/v0/management")].rstrip("/")
    return urlunsplit((scheme, host, path, "", ""))


def is_loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    except ValueError:
        return False  # malformed: check_url refuses it
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_insecure_http: bool) -> None:
    """Refuse, before any request, a target URL that cannot be parsed (a bad IPv6 address or
    port), that is not http(s), that carries ``user:password@`` (never echoed), or that is
    plain http to a host other than loopback."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number 0-65535)
    except ValueError as exc:
        raise errors.UsageError(
            f"target url {url!r} cannot be parsed ({exc}); an IPv6 address goes in brackets "
            "with the port after them, e.g. http://[::1]:8317"
        ) from exc
    if parts.username is not None or parts.password is not None:
        raise errors.UsageError(
            "the target url holds user:password@, which CPA does not use and which would "
            "replace the management key (httpx sends it as Basic auth: a failed attempt). "
            "Remove it; the key goes in CPA_MANAGEMENT_KEY or --management-key-file"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.UsageError(f"target url {url!r} is not an http:// or https:// URL")
    if parts.scheme == "http" and not is_loopback_url(url) and not allow_insecure_http:
        raise errors.UsageError(
            f"target url {url} is plain http to a host other than loopback: the management key "
            "would cross the network in clear. Use https, or pass --allow-insecure-http"
        )


def load(
    path: str,
    environ: Mapping[str, str],
    *,
    defer_sources: bool = False,
    on_section: OnSection | None = None,
) -> LoadedDesired:
    """The desired state at ``path``. ``defer_sources``: read no auth-file source yet;
    ``plan_once`` reads those the plan needs (``needed_sources``). ``on_section``: told each
    top-level section as it is read (``pipeline.prefetch``)."""
    return load_desired(
        Path(path), environ=environ, defer_sources=defer_sources, on_section=on_section
    )


def needed_sources(desired: DesiredState, live_state: LiveState) -> set[str]:
    """The auth files whose source a plan reads: missing on the server (a create) or
    ``replace: true`` (a re-seed check). The others' sources are never uploaded."""
    return {
        f.name
        for f in desired.auth_files
        if f.source is not None and (f.replace or f.name not in live_state.auth_files)
    }


def target_for(
    loaded: LoadedDesired,
    opts: TargetOptions,
    environ: Mapping[str, str],
    stderr: TextIO | None = None,
) -> Target:
    """Where to connect and with which key: flag > environment > desired-state file.

    The ``--management-key`` warning goes to ``stderr``, by default the *current*
    ``sys.stderr`` (looked up at call time, so redirections are honoured).
    """
    if opts.key_arg is not None:
        print(
            "warning: --management-key puts the key in the process list and shell history; "
            "use CPA_MANAGEMENT_KEY or --management-key-file",
            file=sys.stderr if stderr is None else stderr,
        )
    url, key = resolve_target(
        loaded, url=opts.url, key_file=opts.key_file, key_arg=opts.key_arg, environ=environ
    )
    if not url:
        raise errors.UsageError(f"{loaded.path}: no target url: set target.url, CPA_URL or --url")
    if not key:
        raise errors.UsageError(
            f"{loaded.path}: no management key: set CPA_MANAGEMENT_KEY, "
            "--management-key-file, or target.management-key: ${env:NAME}"
        )
    check_url(url, allow_insecure_http=opts.allow_insecure_http)
    return Target(canonical_url(url), key, opts.ca_cert, opts.timeout)


def make_client(
    target: Target,
    *,
    state_dir: Path | None = None,
    redact: Redactions = (),
    announce: TextIO | None = None,
) -> ManagementClient:
    """The client for ``target``; an unusable CA bundle is a usage error naming --ca-cert.

    ``state_dir``: keep the record of failed authentications there (``AuthRecord``), so that
    repeated runs with a wrong key never get the IP banned. ``redact``: secret values masked
    in error messages besides the key (``secret_values``). ``announce``: where to say which
    proxy the target is reached through, if any.
    """
    verify: bool | str = target.ca_cert if target.ca_cert else True
    guard = None if state_dir is None else AuthRecord(state_dir, target.url)
    try:
        client = ManagementClient(
            target.url,
            target.key,
            timeout=target.timeout,
            verify=verify,
            redact=redact,
            auth_guard=guard,
        )
    except errors.UsageError as exc:
        if not target.ca_cert or "CA bundle" not in str(exc):
            raise
        raise errors.UsageError(f"--ca-cert {target.ca_cert}: {exc}") from exc
    if announce is not None and client.proxy is not None:
        print(proxy_line(client.proxy, client.api_base), file=announce)
    return client


def proxy_line(proxy: ProxyChoice, origin: str) -> str:
    """One line saying which proxy a target is reached through (credentials masked)."""
    return f"note: {origin} is reached through the proxy {proxy.shown} (from {proxy.variable})"


def secret_values(state: DesiredState) -> list[str]:
    """The resolved values the desired state marks secret (config and auth-file fields), to be
    masked in any error text a server sends back."""
    found: list[str] = []

    def walk(path: tuple[Any, ...], value: Any, secret: bool) -> None:
        secret = secret or secrets.is_secret_path(path, value, secret_paths=state.secret_paths)
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk((*path, str(k)), v, secret)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk((*path, i), v, secret)
        elif secret and isinstance(value, str | int | float) and not isinstance(value, bool):
            found.append(str(value))

    walk((), state.config or {}, False)
    for f in state.auth_files:
        walk((), dict(f.fields), False)
    return sorted(set(found), key=len, reverse=True)


def build_plan(
    desired: DesiredState,
    live_state: LiveState,
    target: Target,
    *,
    allow_mass_delete: bool = False,
    allow_replace: bool = False,
    next_key: str | None = None,
) -> Plan:
    opts = SafetyOptions(
        key_in_use=target.key,
        next_key=next_key,
        target_is_loopback=target.is_loopback,
        allow_mass_delete=allow_mass_delete,
        allow_replace=allow_replace,
    )
    return make_plan(desired, live_state, PlanOptions(seed_key=SEED_KEY, safety=opts))


def desired_fingerprint(desired: DesiredState, key: bytes) -> str:
    files = [
        {
            "name": f.name,
            "disabled": f.disabled,
            "fields": dict(f.fields),
            "replace": f.replace,
            "source": auth_diff.seed_of(SEED_KEY, f.content) if f.content is not None else None,
        }
        for f in desired.auth_files
    ]
    policy = desired.auth_policy
    return secrets.fingerprint(
        key,
        {
            "config": desired.config,
            "prune": desired.config_prune,
            "ignore": list(desired.config_ignore),
            "files": files,
            "auth_policy": [policy.prune, list(policy.protect), policy.max_deletions],
        },
    )


def live_fingerprint(live_state: LiveState, desired: DesiredState, key: bytes) -> str:
    """What the plan saw of the server, minus what changes on its own (tokens, times)."""
    # A dotted field (headers.X-Team) lives under its first part in the file.
    declared = {
        f.name: {k.split(".", 1)[0] for k in f.fields} | {auth_diff.SEED_FIELD}
        for f in desired.auth_files
    }
    files: dict[str, Any] = {}
    for name, f in sorted(live_state.auth_files.items()):
        content = f.content or {}
        kept = {k: v for k, v in content.items() if k in declared.get(name, set())}
        files[name] = {"disabled": f.disabled, "listed": dict(f.listed), "content": kept}
    return secrets.fingerprint(key, {"config": live_state.config, "files": files})


@dataclass(frozen=True)
class Planned:
    loaded: LoadedDesired
    target: Target
    live: LiveState
    plan: Plan

    def meta(self, created_at: str) -> dict[str, Any]:
        from reconciler import __version__

        key = self.target.fingerprint_key
        # Every source the plan left unread is read here (a broken one skipped): which ones a
        # plan needs depends on the live state (a file the apply of a saved plan created is
        # not needed when a retried apply checks the plan again), and the desired state must
        # fingerprint the same either way. Only plan files and --json pay for it.
        every = {f.name for f in self.loaded.state.auth_files}
        desired = self.loaded.with_sources(every, skip_broken=True).state
        return {
            "target": {"url": self.target.url, "server_version": self.live.server_version},
            "tool_version": __version__,
            "desired_path": str(self.loaded.path),
            "desired_fingerprint": desired_fingerprint(desired, key),
            "live_fingerprint": live_fingerprint(self.live, self.loaded.state, key),
            "created_at": created_at,
        }


def plan_once(
    loaded: LoadedDesired,
    target: Target,
    client: ManagementClient,
    *,
    allow_mass_delete: bool = False,
    allow_replace: bool = False,
    next_key: str | None = None,
    reads: live.Reads | None = None,
) -> Planned:
    """Plan ``loaded`` against the live server. ``${management-key}`` is bound to the key in
    use, or to ``next_key`` when rotating to it (the lockout guard then accepts exactly it).
    ``reads``: the config and listing reads, already made (``pipeline.prefetch``)."""
    loaded = loaded.with_management_key(next_key or target.key)
    live_state = live.fetch_live(client, loaded.state, reads=reads)
    if loaded.sources_deferred:
        loaded = loaded.with_sources(needed_sources(loaded.state, live_state))
    plan = build_plan(
        loaded.state,
        live_state,
        target,
        allow_mass_delete=allow_mass_delete,
        allow_replace=allow_replace,
        next_key=next_key,
    )
    return Planned(loaded, target, live_state, plan)
