"""The fleet pipeline: every target read in parallel (bounded), then one fleet plan.

Each target has its own ``Target`` (URL, key, the fingerprint key derived from that key), its
own client (its own record of failed authentications in the state directory) and its own share
of the desired state. A target that cannot be read (down, 401, banned) is reported with its
error and the others are planned all the same; the core then creates nothing elsewhere that
the unread one may hold.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import errors
from reconciler.core import fleet
from reconciler.core.model import DesiredState
from reconciler.core.plan import PlanOptions
from reconciler.core.safety import SafetyOptions
from reconciler.desired.fleet import LoadedFleet
from reconciler.pipeline import live, planning
from reconciler.pipeline.apply import ApplyResult, apply_plan
from reconciler.pipeline.planning import Target, TargetOptions

if TYPE_CHECKING:
    from reconciler.client.management import ManagementClient
    from reconciler.client.models import AuthFileSummary
    from reconciler.statedir.backup import Backup

# At most this many targets are read (and applied) at once: each read is two requests and a
# parse of the listing, mostly waiting on the network (each request waits out the server's key
# check), so a fleet of 10 or so is read in one wave rather than two.
MAX_WORKERS = 16


def targets_for(loaded: LoadedFleet, opts: TargetOptions) -> dict[str, Target]:
    """Each target's URL and key, checked as a single target's are (before any request).
    ``--url`` and the key flags name one server, so they are refused for a fleet."""
    if opts.url or opts.key_file or opts.key_arg:
        raise errors.UsageError(
            f"{loaded.path} is a fleet file: each target's url and management-key are in it; "
            "--url, --management-key-file and --management-key apply to a single target only"
        )
    return {name: target_for(loaded, name, opts) for name in loaded.endpoints}


def target_for(loaded: LoadedFleet, name: str, opts: TargetOptions) -> Target:
    """One target's URL and key, checked as a single target's are (before any request)."""
    endpoint = loaded.endpoints[name]
    try:
        planning.check_url(endpoint.url, allow_insecure_http=opts.allow_insecure_http)
    except errors.UsageError as exc:
        raise errors.UsageError(f"target {name}: {exc}") from exc
    if not endpoint.management_key:
        raise errors.UsageError(f"target {name}: its management-key is empty")
    return Target(
        planning.canonical_url(endpoint.url),
        endpoint.management_key,
        opts.ca_cert,
        opts.timeout,
    )


def selected(loaded: LoadedFleet, names: Sequence[str] | None) -> tuple[str, ...]:
    """The targets ``--target`` names (all when none), each checked to exist."""
    if not names:
        return loaded.fleet.names
    unknown = [n for n in names if n not in loaded.endpoints]
    if unknown:
        raise errors.UsageError(
            f"--target {unknown[0]}: no such target in {loaded.path} "
            f"(targets: {', '.join(loaded.fleet.names)})"
        )
    return tuple(n for n in loaded.fleet.names if n in names)


def state_for(loaded: LoadedFleet, name: str) -> DesiredState:
    """The target's desired state with every file placed on it (what its read must see)."""
    return replace(loaded.fleet.states[name], auth_files=loaded.fleet.share(name))


def needed_sources(
    loaded: LoadedFleet,
    lives: Mapping[str, fleet.TargetLive],
    pending: Collection[str] = (),
) -> set[str]:
    """The auth files whose source a fleet plan reads, as ``planning.needed_sources`` for one
    server: those placed on a target that was read, that no read target holds (a create) or
    with ``replace: true`` (a re-seed check). A file another server holds is moved with its
    live tokens, never uploaded from its source (which may be long gone from the repo), and so
    is an unfinished move of the journal (``pending``, completed from the journal); a file
    placed on a target that was not read is planned nowhere."""
    held: set[str] = set(pending)
    for tl in lives.values():
        held.update(tl.live.auth_files)
    return {
        f.name
        for name in lives
        for f in loaded.fleet.share(name)
        if f.source is not None and (f.replace or f.name not in held)
    }


def credential_info(summary: AuthFileSummary) -> fleet.CredentialInfo:
    claims = summary.id_token or {}
    account = claims.get("chatgpt_account_id")
    return fleet.CredentialInfo(
        name=summary.name,
        provider=summary.provider or summary.type,
        email=summary.email,
        account_id=account if isinstance(account, str) and account else None,
        last_refresh=summary.last_refresh,
    )


def read_target(client: ManagementClient, state: DesiredState) -> fleet.TargetLive:
    infos: dict[str, fleet.CredentialInfo] = {}

    def keep(listing: list[AuthFileSummary]) -> None:
        infos.update((s.name, credential_info(s)) for s in listing)

    live_state = live.fetch_live(client, state, on_listing=keep)
    return fleet.TargetLive(live_state, infos)


def read_fleet(
    loaded: LoadedFleet, clients: Mapping[str, ManagementClient]
) -> tuple[dict[str, fleet.TargetLive], dict[str, str]]:
    """Every target in ``clients``, read in parallel: (lives, errors by target)."""
    lives, failures = read_targets(loaded, clients)
    return lives, {name: str(exc) for name, exc in failures.items()}


def read_targets(
    loaded: LoadedFleet, clients: Mapping[str, ManagementClient]
) -> tuple[dict[str, fleet.TargetLive], dict[str, errors.ReconcilerError]]:
    """``read_fleet`` keeping each failure's exception (the daemon tells a 401 from a timeout)."""
    lives: dict[str, fleet.TargetLive] = {}
    failures: dict[str, errors.ReconcilerError] = {}
    if not clients:
        return lives, failures
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(clients))) as pool:
        futures = {
            name: pool.submit(read_target, client, state_for(loaded, name))
            for name, client in clients.items()
        }
        for name, future in futures.items():
            try:
                lives[name] = future.result()
            except errors.ReconcilerError as exc:
                failures[name] = exc
    return lives, failures


def plan_options(targets: Mapping[str, Target], *, allow_replace: bool) -> dict[str, PlanOptions]:
    return {
        name: PlanOptions(
            seed_key=planning.SEED_KEY,
            safety=SafetyOptions(
                key_in_use=t.key,
                target_is_loopback=t.is_loopback,
                allow_mass_delete=False,
                allow_replace=allow_replace,
            ),
        )
        for name, t in targets.items()
    }


@dataclass(frozen=True)
class FleetPlanned:
    loaded: LoadedFleet
    targets: Mapping[str, Target]
    lives: Mapping[str, fleet.TargetLive]
    failures: Mapping[str, str]
    plan: fleet.FleetPlan
    selected: tuple[str, ...]

    def server_version(self, name: str) -> str | None:
        tl = self.lives.get(name)
        return tl.live.server_version if tl is not None else None

    def fingerprints(self) -> dict[str, tuple[str, str]]:
        """Per read target, the fingerprints a saved plan is checked with, as a single
        target's plan file has them (keyed by that target's own fingerprint key): its desired
        state (with every file placed on it) and what the plan saw of it.

        Sources deferred at load are all read here, a broken one skipped: which ones the plan
        needed depends on the live state (a file created or moved by the apply of a saved plan
        is no longer needed when a retried apply checks the plan), and the desired state must
        fingerprint the same either way."""
        loaded = self.loaded
        if loaded.sources_deferred:
            every = {f.name for f in loaded.fleet.files}
            loaded = loaded.with_sources(every, skip_broken=True)
        out: dict[str, tuple[str, str]] = {}
        for name, tl in self.lives.items():
            state = state_for(loaded, name)
            key = self.targets[name].fingerprint_key
            out[name] = (
                planning.desired_fingerprint(state, key),
                planning.live_fingerprint(tl.live, state, key),
            )
        return out


def make_plan(
    loaded: LoadedFleet,
    targets: Mapping[str, Target],
    clients: Mapping[str, ManagementClient],
    *,
    chosen: tuple[str, ...],
    allow_mass_delete: bool = False,
    allow_replace: bool = False,
    pending: Mapping[str, str] | None = None,
) -> FleetPlanned:
    lives, failures = read_fleet(loaded, clients)
    return plan_read(
        loaded,
        targets,
        lives,
        failures,
        chosen=chosen,
        allow_mass_delete=allow_mass_delete,
        allow_replace=allow_replace,
        pending=pending,
    )


def plan_read(
    loaded: LoadedFleet,
    targets: Mapping[str, Target],
    lives: Mapping[str, fleet.TargetLive],
    failures: Mapping[str, str],
    *,
    chosen: tuple[str, ...],
    allow_mass_delete: bool = False,
    allow_replace: bool = False,
    pending: Mapping[str, str] | None = None,
) -> FleetPlanned:
    """The fleet plan from what was read (``make_plan`` without the reading). A fleet loaded
    with its sources deferred gets those the plan needs read first (``needed_sources``; a
    broken one is a ``SourceError`` naming its file:line): ``FleetPlanned.loaded`` holds them,
    for the apply's creates."""
    if loaded.sources_deferred:
        loaded = loaded.with_sources(needed_sources(loaded, lives, pending or ()))
    per_target = plan_options(targets, allow_replace=allow_replace)
    if allow_mass_delete:
        per_target = {
            n: replace(o, safety=replace(o.safety, allow_mass_delete=True))
            for n, o in per_target.items()
        }
    options = fleet.FleetPlanOptions(per_target, allow_mass_delete=allow_mass_delete)
    plan = fleet.make_fleet_plan(loaded.fleet, lives, options, pending=pending)
    return FleetPlanned(loaded, targets, lives, failures, plan, chosen)


def apply_target(
    planned: FleetPlanned,
    name: str,
    client: ManagementClient,
    backup: Backup,
    progress: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Apply one target's own plan of the fleet plan, as a single target's is applied."""
    return apply_plan(
        planned.plan.plans[name],
        state_for(planned.loaded, name),
        planned.lives[name].live,
        client,
        backup,
        seed_key=planning.SEED_KEY,
        progress=progress or (lambda _m: None),
    )


@contextlib.contextmanager
def clients_for(
    loaded: LoadedFleet,
    targets: Mapping[str, Target],
    state_dir: Path,
) -> Iterator[dict[str, ManagementClient]]:
    """One client per target, closed on leaving."""
    with contextlib.ExitStack() as stack:
        out: dict[str, ManagementClient] = {}
        for name, target in targets.items():
            state = loaded.fleet.states[name]
            client = planning.make_client(
                target, state_dir=state_dir, redact=functools.partial(planning.secret_values, state)
            )
            out[name] = stack.enter_context(client)
        yield out
