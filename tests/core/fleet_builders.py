"""A fleet's desired state and a server's listing, as the fleet-core tests build them."""

from __future__ import annotations

from reconciler.core.fleet import CredentialInfo, FleetDesired, FleetTarget, TargetLive
from reconciler.core.model import (
    AuthFilesPolicy,
    DesiredAuthFile,
    DesiredState,
    LiveAuthFile,
    LiveState,
)


def fleet(
    names: list[str],
    files: list[str],
    *,
    pins: dict[str, str] | None = None,
    drain: str = "",
    states: dict[str, DesiredState] | None = None,
    max_deletions: int = 5,
) -> FleetDesired:
    """Targets named by the letters of ``names`` (those in ``drain`` draining), each file a
    claude credential with a source; a target's state is ``states[name]``, else one with
    ``max_deletions``."""
    default = DesiredState(auth_policy=AuthFilesPolicy(max_deletions=max_deletions))
    return FleetDesired(
        targets=tuple(FleetTarget(n, drain=n in drain) for n in names),
        states={n: (states or {}).get(n, default) for n in names},
        files=tuple(DesiredAuthFile(f, source=f, content={"type": "claude"}) for f in files),
        pins=pins or {},
    )


def held(*files: tuple[str, str | None, str | None]) -> TargetLive:
    """(name, email, last_refresh) per file, all claude, as the listing shows them."""
    auth = {n: LiveAuthFile(n, provider="claude", email=e) for n, e, _ in files}
    creds = {n: CredentialInfo(n, "claude", e, None, r) for n, e, r in files}
    return TargetLive(LiveState(auth_files=auth), creds)
