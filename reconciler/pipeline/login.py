"""An interactive OAuth login through CPA's Management API, and recording its result.

Owns the flow of ``reconciler login`` over the client (``quota-and-oauth.md`` section 4):
snapshot the auth-file listing, start the login (``GET /<provider>-auth-url``), hand the
browser's callback address to CPA (``POST /oauth-callback``) or wait for a device code to be
approved, poll ``GET /get-auth-status?state=`` (never without the state: CPA then answers
``ok``), find the file the login created or rewrote by diffing the listing, and apply the
policy the desired state now declares for it (the PATCH calls apply makes).

The terminal is the caller's (``LoginIO``): this module says what to show and asks for the
callback address; it never prints. The authorization ``code`` and the ``state`` are
credentials while the flow runs: they appear in no message (only their first characters), and
are masked in every client error. Every way out after the start (an error, the deadline,
Ctrl-C) cancels the session on CPA (``DELETE /oauth-session``) unless CPA already ended it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from reconciler import errors
from reconciler.client.errors import sanitize
from reconciler.client.management import ManagementClient
from reconciler.client.models import AuthFileInfo, OAuthStart
from reconciler.core.plan import Action
from reconciler.desired import auth_file_entry
from reconciler.pipeline import apply, planning

POLL_SECONDS = 2.0  # CPAMC and ZeroLimit poll every 3 s; CPA itself looks every 0.5 s
REDIRECT_DEADLINE = 300.0  # CPA waits 5 minutes for a redirect flow's callback
DEVICE_DEADLINE = 1800.0  # a device code without expires_in: CPA's session life


@dataclass(frozen=True)
class Provider:
    """A login provider as the server names it."""

    name: str  # the path: /<name>-auth-url
    auth_type: str  # the "type" of the files it writes
    device: bool = False
    availability: str = ""  # which servers serve it, when not every v7


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("anthropic", "claude"),
        Provider("codex", "codex"),
        Provider("antigravity", "antigravity"),
        Provider("xai", "xai", device=True),
        Provider("kimi", "kimi", device=True),
        Provider("gemini-cli", "gemini", availability="CPA v7.2.19 and older"),
        Provider("kiro", "kiro", availability="CLIProxyAPIPlus"),
        Provider("github", "github-copilot", device=True, availability="CLIProxyAPIPlus"),
    )
}
ALIASES = {
    "claude": "anthropic",
    "openai": "codex",
    "chatgpt": "codex",
    "anti-gravity": "antigravity",
    "grok": "xai",
    "x-ai": "xai",
    "x.ai": "xai",
    "gemini": "gemini-cli",
    "copilot": "github",
}


def find_provider(typed: str) -> Provider | None:
    name = typed.strip().lower()
    return PROVIDERS.get(ALIASES.get(name, name))


def provider_names() -> str:
    aliases = ", ".join(f"{alias} = {name}" for alias, name in ALIASES.items())
    return f"{', '.join(PROVIDERS)} (aliases: {aliases})"


def shown(secret: str) -> str:
    """A credential as messages may show it: its first 4 characters."""
    return f"{secret[:4]}…" if len(secret) > 4 else "…"


class LoginIO(Protocol):
    """What the flow needs of the terminal."""

    def say(self, text: str) -> None:
        """Show a line (or lines) to the person."""

    def show_url(self, url: str) -> None:
        """Show an address the person opens or copies: whole, on one line of its own."""

    def open_browser(self, url: str) -> bool:
        """Open ``url`` in a browser when there is one (and the person did not say not to)."""

    def ask_callback(self, prompt: str) -> str | None:
        """Ask for the address the browser ended on; None when nobody can answer."""


@dataclass(frozen=True)
class LoginOptions:
    provider: Provider
    typed: str  # the provider as the person typed it
    callback_url: str | None = None  # "-" reads it from standard input (the IO's ask)
    webui: bool = False
    project_id: str | None = None
    deadline: float | None = None  # seconds; None: 300 s, or the device code's validity
    poll_seconds: float = POLL_SECONDS


Snapshot = dict[str, tuple[str | None, str | None, str | None]]


def snapshot(files: list[AuthFileInfo]) -> Snapshot:
    """``{name: (auth_index, modtime, updated_at)}`` of a listing."""
    return {
        f.name: (f.auth_index, f.modtime, f.updated_at)
        for f in files
        if isinstance(f.name, str) and f.name
    }


@dataclass
class LoginResult:
    name: str
    provider: str
    account: str
    rewritten: bool  # the same name existed before (a re-login)


@dataclass
class _Flow:
    client: ManagementClient
    io: LoginIO
    opts: LoginOptions
    sleep: Callable[[float], None]
    state: str = ""
    secrets: list[str] = field(default_factory=list)
    cancel_on_exit: bool = False

    def remember(self, *values: str) -> None:
        self.secrets.extend(v for v in values if v)
        self.client.set_redactions(self.secrets)

    def masked(self, text: str) -> str:
        for value in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(value, shown(value))
        return sanitize(text)


def server_name(client: ManagementClient) -> str:
    version = client.server_version
    return f"CPA {version.version}" if version is not None else "this CPA (version not shown)"


def run_login(
    client: ManagementClient,
    io: LoginIO,
    opts: LoginOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LoginResult:
    """The whole login; raises ``LoginError`` (or an ``ApiError``) when it does not finish,
    and lets ``KeyboardInterrupt`` through after cancelling the session."""
    flow = _Flow(client, io, opts, sleep)
    masking = _LogMask(flow)
    http_log = logging.getLogger("httpx")  # logs each request URL, get-auth-status?state=...
    http_log.addFilter(masking)
    try:
        before = snapshot(client.list_auth_files())
        try:
            deadline = _begin(flow, clock)
            _wait(flow, deadline, clock)
        except BaseException:
            if flow.cancel_on_exit:
                _cancel(flow)
            raise
        return _find_credential(flow, before)
    finally:
        http_log.removeFilter(masking)


class _LogMask(logging.Filter):
    """Masks the login's code and state in a log record (the state rides in query strings)."""

    def __init__(self, flow: _Flow) -> None:
        super().__init__()
        self.flow = flow

    def filter(self, record: logging.LogRecord) -> bool:
        if self.flow.secrets:
            text = record.getMessage()
            masked = self.flow.masked(text)
            if masked != sanitize(text):
                record.msg, record.args = masked, None
        return True


def _begin(flow: _Flow, clock: Callable[[], float]) -> float:
    """Start (or resume) the login up to the point where CPA has all it needs; the deadline."""
    opts = flow.opts
    given = opts.callback_url
    if given is not None and given != "-":
        state, _ = _check_address(flow, given, expected=None)
        flow.state = state
        flow.cancel_on_exit = True
        flow.io.say(
            f"Finishing the {opts.provider.name} login started earlier (state {shown(state)})."
        )
        _post_callback(flow, given)
        return clock() + (opts.deadline or REDIRECT_DEADLINE)
    start = _start(flow)
    state = start.state or ""
    flow.state = state
    flow.remember(state)
    flow.cancel_on_exit = True
    if not start.url:
        raise errors.LoginError(
            f"{server_name(flow.client)} started the {opts.provider.name} login but gave no "
            "address to open (this provider's login is not supported by reconciler login; use "
            "the CPA web UI)"
        )
    if start.flow == "device" or opts.provider.device:
        return _show_device(flow, start, clock)
    _show_redirect(flow, start)
    address = _ask_address(flow, state)
    _post_callback(flow, address)
    return clock() + (opts.deadline or REDIRECT_DEADLINE)


def _start(flow: _Flow) -> OAuthStart:
    opts = flow.opts
    name = opts.provider.name
    try:
        start = flow.client.start_oauth(name, project_id=opts.project_id, is_webui=opts.webui)
    except errors.UnsupportedError as exc:
        if exc.status != 404:
            raise
        where = (
            f" (it is served by {opts.provider.availability})" if opts.provider.availability else ""
        )
        raise errors.LoginError(
            f"{server_name(flow.client)} does not serve the {name!r} login "
            f"(GET /v0/management/{name}-auth-url answered 404){where}; no login was started"
        ) from None
    except errors.ServerError as exc:
        raise errors.LoginError(_start_failure(flow, exc)) from None
    if start.status not in (None, "ok") or not start.state:
        raise errors.LoginError(
            f"{server_name(flow.client)} answered the start of the {name} login without a "
            "session (no state); nothing to wait for"
        )
    return start


def _start_failure(flow: _Flow, exc: errors.ApiError) -> str:
    name = flow.opts.provider.name
    said = f"it answered {exc.status}" + (f" {exc.code!r}" if exc.code else "")
    if flow.opts.provider.device:
        return (
            f"{server_name(flow.client)} could not start the {name} device login ({said}). "
            "CPA asks the provider for a device code itself, so the CPA host must reach the "
            "provider's site: it looks offline, or blocked by a firewall or proxy (CPA's "
            "proxy-url). No login was started; try again once CPA can reach the internet"
        )
    hint = ""
    if flow.opts.webui and exc.code and "callback server" in exc.code:
        hint = (
            " With --webui CPA listens on the provider's callback port itself: something else "
            "holds that port on the CPA host (or drop --webui and paste the address)."
        )
    return f"{server_name(flow.client)} could not start the {name} login ({said}).{hint}"


def _show_redirect(flow: _Flow, start: OAuthStart) -> None:
    io = flow.io
    io.say(f"Open this address in a browser and sign in to {flow.opts.provider.name}:")
    io.show_url(start.url or "")
    if io.open_browser(start.url or ""):
        io.say("(opened in your browser)")
    if flow.opts.webui:
        io.say(
            "CPA takes the browser's redirect itself (--webui). When the browser says the "
            "login is done, press Enter here; or paste the address it ended on."
        )
    else:
        io.say(
            "After signing in, the browser goes to a localhost address that does not load "
            "(CPA runs elsewhere): copy that whole address from the address bar."
        )


def _show_device(flow: _Flow, start: OAuthStart, clock: Callable[[], float]) -> float:
    io = flow.io
    io.say(f"Open this address in a browser and approve the {flow.opts.provider.name} login:")
    io.show_url(start.url or "")
    if start.user_code:
        io.say(f"Code to enter if asked: {start.user_code}")
    seconds = float(start.expires_in) if start.expires_in else DEVICE_DEADLINE
    when = time.strftime("%H:%M", time.localtime(time.time() + seconds))
    io.say(f"The code is valid for {_duration(seconds)} (until {when}).")
    if io.open_browser(start.url or ""):
        io.say("(opened in your browser)")
    io.say("Waiting for the approval (Ctrl-C cancels)...")
    return clock() + (flow.opts.deadline or seconds)


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def _ask_address(flow: _Flow, state: str) -> str:
    """The callback address, checked to carry this login's state; asked up to 3 times on a
    terminal, once otherwise."""
    prompt = "Paste the address the browser ended on (not shown), then Enter: "
    if flow.opts.webui:
        prompt = "Press Enter once the browser says the login is done (or paste the address): "
    for _attempt in range(3):
        answer = flow.io.ask_callback(prompt)
        if answer is None:
            raise errors.LoginError(
                "no callback address: there is no terminal to paste it into; pass "
                "--callback-url - to read it from standard input"
            )
        answer = answer.strip()
        if not answer and flow.opts.webui:
            return ""
        try:
            _check_address(flow, answer, expected=state)
        except errors.LoginError as exc:
            if flow.opts.callback_url == "-":
                raise
            flow.io.say(f"{exc}. Try again.")
            continue
        return answer
    raise errors.LoginError("no usable callback address after 3 tries; the login was cancelled")


def _check_address(flow: _Flow, address: str, *, expected: str | None) -> tuple[str, str]:
    """The address's ``state`` and ``code`` (or ``error``); refused, before any request, when
    it is not a callback address or carries another login's state."""
    text = address.strip()
    try:
        parts = urlsplit(text if "://" in text or "?" in text else f"?{text}")
        query = parse_qs(parts.query)
    except ValueError:
        raise errors.LoginError("the pasted text is not an address") from None
    state = (query.get("state") or [""])[0]
    code = (query.get("code") or [""])[0]
    failure = (query.get("error_description") or query.get("error") or [""])[0]
    flow.remember(state, code)
    if not state:
        raise errors.LoginError(
            "the pasted address has no state=...: copy the whole address from the browser's "
            "address bar (it starts with http://localhost:)"
        )
    if expected is not None and state != expected:
        raise errors.LoginError(
            f"the pasted address belongs to another login (its state {shown(state)} is not "
            f"this login's {shown(expected)}); nothing was sent to CPA"
        )
    if not code and not failure:
        raise errors.LoginError(
            "the pasted address has no code=... (nor error=...): copy the whole address the "
            "browser ended on after signing in"
        )
    return state, code


def _post_callback(flow: _Flow, address: str) -> None:
    if not address:  # --webui: CPA's forwarder took the redirect
        return
    name = flow.opts.provider.name
    try:
        flow.client.submit_oauth_callback(name, address)
    except errors.ApiError as exc:
        if exc.status == 404:
            flow.cancel_on_exit = False
            raise errors.LoginError(
                "CPA does not know this login any more (POST /oauth-callback answered 404 "
                "'unknown or expired state'): the session expired (CPA keeps one 30 minutes and "
                "waits 5 minutes for its callback), was cancelled, or the address is from "
                "another login. Start again: reconciler login " + flow.opts.typed
            ) from None
        if exc.status == 409:
            flow.cancel_on_exit = False
            said = flow.masked(exc.code or "")
            raise errors.LoginError(
                f"this login is already finished on CPA (POST /oauth-callback answered 409: "
                f"{said}); start a new one: reconciler login {flow.opts.typed}"
            ) from None
        if exc.status == 400:
            raise errors.LoginError(_bad_callback(flow, exc.code or "")) from None
        raise
    flow.io.say("CPA has the callback; waiting for it to finish the login...")


def _bad_callback(flow: _Flow, code: str) -> str:
    name = flow.opts.provider.name
    words = {
        "provider does not match state": (
            f"the address belongs to a login of another provider, not {name}"
        ),
        "state is required": "the address has no state",
        "invalid state": "the address's state is malformed (cut or changed while copying?)",
        "code or error is required": "the address has no code (copy the whole address)",
        "invalid redirect_url": "CPA could not read the address",
        "unsupported provider": f"CPA does not accept {name!r} as a callback provider",
    }
    said = words.get(code, flow.masked(code) or "no reason given")
    return f"CPA refused the callback address (POST /oauth-callback answered 400): {said}"


def _wait(flow: _Flow, deadline: float, clock: Callable[[], float]) -> None:
    """Poll ``get-auth-status`` with the state until ``ok``, ``error`` or the deadline."""
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise errors.LoginError(
                f"the {flow.opts.provider.name} login did not finish in time "
                f"(--timeout {_whole(flow.opts.deadline)}); it was cancelled on CPA"
            )
        flow.sleep(min(flow.opts.poll_seconds, remaining))
        status = flow.client.get_oauth_status(flow.state)
        if status.status == "wait":
            continue
        if status.status == "ok":
            flow.cancel_on_exit = False
            return
        flow.cancel_on_exit = False
        text = flow.masked(status.error or "no reason given")
        if text == "unknown or expired state":
            raise errors.LoginError(
                "the login session is gone from CPA (get-auth-status: 'unknown or expired "
                "state'): it expired (30 minutes) or was cancelled elsewhere. Start again: "
                f"reconciler login {flow.opts.typed}"
            )
        raise errors.LoginError(f"CPA reports the {flow.opts.provider.name} login failed: {text}")


def _whole(deadline: float | None) -> str:
    return "default" if deadline is None else f"{deadline:g}"


def _cancel(flow: _Flow) -> None:
    """``DELETE /oauth-session?state=``; a failure is told, never raised (we are leaving)."""
    try:
        result = flow.client.cancel_oauth(flow.state)
    except errors.ReconcilerError as exc:
        flow.io.say(f"warning: the login session could not be cancelled on CPA: {exc}")
        return
    if result.cancelled:
        flow.io.say("Cancelled the login session on CPA.")


def _find_credential(flow: _Flow, before: Snapshot) -> LoginResult:
    """The file the login created or rewrote: exactly one candidate expected."""
    provider = flow.opts.provider
    candidates: list[AuthFileInfo] = []
    for attempt in range(3):  # CPA lists the file once its watcher saw it
        if attempt:
            flow.sleep(1.0)
        files = flow.client.list_auth_files()
        candidates = [f for f in files if f.name and before.get(f.name) != _seen(f)]
        typed = [f for f in candidates if provider.auth_type in (f.type, f.provider)]
        if len(candidates) > 1 and typed:
            candidates = typed
        if candidates:
            break
    if not candidates:
        raise errors.LoginError(
            f"CPA reports the {provider.name} login done, but no auth file appeared or changed "
            "in GET /v0/management/auth-files; look at the server's auth-dir and logs"
        )
    if len(candidates) > 1:
        names = ", ".join(sorted(str(f.name) for f in candidates))
        raise errors.LoginError(
            f"the {provider.name} login is done, but {len(candidates)} auth files appeared or "
            f"changed meanwhile ({names}): cannot tell which one it wrote; nothing was recorded"
        )
    found = candidates[0]
    name = str(found.name)
    return LoginResult(
        name=name,
        provider=str(found.provider or found.type or provider.auth_type),
        account=str(found.email or found.account or found.label or "(not listed)"),
        rewritten=name in before,
    )


def _seen(f: AuthFileInfo) -> tuple[str | None, str | None, str | None]:
    return (f.auth_index, f.modtime, f.updated_at)


# -- recording the result ------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyOutcome:
    done: list[str]
    left: list[str]  # changes for this file that login does not make (shown, not done)


def apply_flags(
    client: ManagementClient, name: str, policy: auth_file_entry.EntryPolicy
) -> PolicyOutcome:
    """Without a desired file: the policy the flags asked for, as apply would send it."""
    done: list[str] = []
    if policy.disabled is not None:
        client.set_auth_file_disabled(name, policy.disabled)
        done.append(f"disabled={str(policy.disabled).lower()}")
    fields: dict[str, object] = {}
    if policy.note is not None:
        fields["note"] = policy.note
    if policy.priority is not None:
        fields["priority"] = policy.priority
    if fields:
        client.patch_auth_file_fields(name, fields)
        done.extend(f"fields.{k}" for k in fields)
    return PolicyOutcome(done, [])


def apply_entry_policy(
    client: ManagementClient, desired_path: str, target: planning.Target, name: str
) -> PolicyOutcome:
    """With a desired file: plan it against the server and carry out the update of ``name``
    only (the policy its entry declares: a re-login may have reset it), as apply does."""
    loaded = planning.load(desired_path, os.environ)
    planned = planning.plan_once(loaded, target, client)
    mine = [a for a in planned.plan.actions if a.name == name]
    done: list[str] = []
    left: list[str] = []
    for action in mine:
        if action.op == "update":
            apply.update_auth_file(client, action)
            done.extend(_describe(action))
        else:
            left.append(f"{action.op} {action.address}")
    return PolicyOutcome(done, left)


def _describe(action: Action) -> list[str]:
    return [".".join(str(p) for p in change.path) for change in action.changes]
