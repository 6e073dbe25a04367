"""A fleet: several CPA servers from one desired state, each credential on exactly one of them.

Pure: no I/O. Three things live here:

* **Placement**: every declared auth file gets one target: its ``target:`` pin, or (``spread``)
  rendezvous / highest-random-weight hashing over the targets that do not drain. Same inputs give
  the same placement; adding a target moves only the files that now score highest there, removing
  one moves only the files it held (about 1/N of them either way).
* **Identity**: a credential is its provider plus its account (codex's
  ``id_token.chatgpt_account_id``, else the e-mail the listing shows), not its file name; with
  neither, the file name stands for it.
* **The fleet plan** (``make_fleet_plan``): one single-server ``Plan`` per target (made by
  ``core.plan.make_plan`` from that target's share of the desired state), the **moves** the
  placement requires, and the **duplicates** (one credential live on two or more targets, which
  kills it: refresh tokens rotate). A duplicate is resolved by keeping the copy with the newest
  ``last_refresh`` on the placed target; every other copy is deleted (after a backup).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.core.model import DesiredAuthFile, DesiredState, LiveAuthFile, LiveState
from reconciler.core.plan import Plan, PlanOptions, make_plan
from reconciler.core.safety import Blocker

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

SPREAD = "spread"
PINNED = "pinned"
# How many files a target may move out (with duplicate copies it drops) before the plan is
# blocked is the target's own auth-files.max-deletions: a move deletes from the source.


# ---------------------------------------------------------------------------------------------
# Targets and placement


@dataclass(frozen=True)
class FleetTarget:
    """One server of the fleet, by its stable name. ``weight`` scales its share of spread
    files; ``drain`` retires it: nothing is placed there and what it holds moves away."""

    name: str
    weight: float = 1.0
    drain: bool = False

    @property
    def eligible(self) -> bool:
        return not self.drain and self.weight > 0


def score(target: str, file: str, weight: float = 1.0) -> float:
    """The weighted rendezvous score of ``file`` on ``target`` (the highest wins).

    A uniform u in (0, 1) from SHA-256 of the pair, scored ``-weight / ln(u)``: the chance that
    a target wins is its weight over the sum of the weights, and the score of one pair never
    depends on the other targets (which is what makes the placement stable)."""
    return _score(_prefix(target), file.encode(), weight)


def _prefix(target: str) -> Hash:
    """SHA-256 fed with ``target`` and the separator: a copy of it, fed a file name, hashes
    the pair (each name is hashed once, not once per file)."""
    return hashlib.sha256(f"{target}\0".encode())


def _score(prefix: Hash, file: bytes, weight: float) -> float:
    pair = prefix.copy()
    pair.update(file)
    # not mutated: a constant off by one (or the byte order, big by default) changes no double
    u = (int.from_bytes(pair.digest()[:8], "big") + 1) / (2**64 + 2)  # pragma: no mutate
    return -weight / math.log(u)


_Pool = tuple[tuple["Hash", float, str], ...]


def _pool(targets: Iterable[FleetTarget]) -> _Pool:
    """The eligible targets by name (on a tie the first one stays), each with its prefix."""
    eligible = sorted((t for t in targets if t.eligible), key=lambda t: t.name)
    return tuple((_prefix(t.name), t.weight, t.name) for t in eligible)


def _best(file: str, pool: _Pool) -> str | None:
    data = file.encode()
    best: tuple[float, str] | None = None
    for prefix, weight, name in pool:
        s = _score(prefix, data, weight)
        if best is None or s > best[0]:
            best = (s, name)
    return None if best is None else best[1]


def place(file: str, targets: Iterable[FleetTarget]) -> str | None:
    """The target ``file`` lands on among the eligible ``targets`` (None when there is none).
    Ties (practically never) go to the name that sorts first."""
    return _best(file, _pool(targets))


def placement(
    files: Iterable[str], pins: Mapping[str, str], targets: Iterable[FleetTarget]
) -> dict[str, str]:
    """File name -> target: the pin when there is one, else the rendezvous choice. A file no
    target can take (every target drains) is left out."""
    pool = _pool(targets)
    out: dict[str, str] = {}
    for name in files:
        chosen = pins.get(name) or _best(name, pool)
        if chosen is not None:
            out[name] = chosen
    return out


# ---------------------------------------------------------------------------------------------
# Credential identity


@dataclass(frozen=True)
class CredentialInfo:
    """What a listing says about one live auth file, for identity and for duplicates."""

    name: str
    provider: str | None = None
    email: str | None = None
    account_id: str | None = None
    last_refresh: str | None = None


def identity(info: CredentialInfo) -> str:
    """``provider:account``: codex's ChatGPT account id, else the e-mail (case-folded); with
    neither, ``file:<name>`` (only the same name is then the same credential)."""
    nameless = "unknown"  # pragma: no mutate: lower-cased below, so its case is moot
    provider = (info.provider or nameless).strip().lower()
    if provider == "codex" and info.account_id:
        return f"codex:{info.account_id}"
    if info.email and info.email.strip():
        return f"{provider}:{info.email.strip().lower()}"
    return f"file:{info.name}"


# ---------------------------------------------------------------------------------------------
# The fleet's desired state and live state


@dataclass(frozen=True)
class FleetDesired:
    """The fleet's desired state, resolved.

    ``states`` holds each target's own ``DesiredState``: the config with its ``target-config``
    merged in, its prune/protect/max-deletions, and **no** auth files (the plan gives each target
    its share). ``files`` are every declared auth file; ``pins`` the ``target:`` of those that
    have one."""

    targets: tuple[FleetTarget, ...]
    states: Mapping[str, DesiredState]
    files: tuple[DesiredAuthFile, ...] = ()
    pins: Mapping[str, str] = field(default_factory=dict)
    placement: str = SPREAD

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    def target(self, name: str) -> FleetTarget:
        return next(t for t in self.targets if t.name == name)

    def placed(self) -> dict[str, str]:
        """File name -> target (a copy: computed once per desired state, as every target's
        share and the plan read it)."""
        return dict(self._placed)

    @functools.cached_property
    def _placed(self) -> dict[str, str]:
        return placement((f.name for f in self.files), self.pins, self.targets)

    def share(self, target: str) -> tuple[DesiredAuthFile, ...]:
        """The declared files placed on ``target``, in the order of the desired state."""
        return self._shares.get(target, ())

    @functools.cached_property
    def _shares(self) -> dict[str, tuple[DesiredAuthFile, ...]]:
        placed = self._placed
        out: dict[str, list[DesiredAuthFile]] = {}
        for f in self.files:
            if f.name in placed:
                out.setdefault(placed[f.name], []).append(f)
        return {name: tuple(files) for name, files in out.items()}


@dataclass(frozen=True)
class TargetLive:
    """One target as read: its live state and what its listing says of each credential."""

    live: LiveState
    credentials: Mapping[str, CredentialInfo] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# The fleet plan


@dataclass(frozen=True)
class Copy:
    """One live copy of a credential."""

    target: str
    name: str
    last_refresh: str | None = None

    @property
    def address(self) -> str:
        return f"{self.target}/{self.name}"


@dataclass(frozen=True)
class Move:
    """Carry one credential to ``dest`` as ``name``: take ``source_name`` off ``source`` (its
    current tokens) and put it there; ``drop`` are other copies of it, deleted after a backup.

    ``transfer`` is False when the copy to keep is already in place (only ``drop`` is done).
    ``from_journal``: a move a run began and did not finish; the next apply completes it."""

    name: str
    source: str
    source_name: str
    dest: str
    reason: str
    drop: tuple[Copy, ...] = ()
    transfer: bool = True
    from_journal: bool = False

    def deletes_on(self, target: str) -> int:
        """How many files this move deletes from ``target``."""
        own = 1 if self.transfer and self.source == target and not self.from_journal else 0
        return own + sum(1 for c in self.drop if c.target == target)


@dataclass(frozen=True)
class Duplicate:
    """One credential live on two or more targets. ``keep`` is the copy kept (newest
    ``last_refresh``) when the plan can resolve it; ``note`` says what is done or why not."""

    identity: str
    copies: tuple[Copy, ...]
    keep: Copy | None
    note: str


@dataclass(frozen=True)
class FleetPlanOptions:
    """Per target, the single-server plan options (safety: the key in use, loopback, ...)."""

    per_target: Mapping[str, PlanOptions] = field(default_factory=dict)
    allow_mass_delete: bool = False


@dataclass(frozen=True)
class FleetPlan:
    """The fleet plan, as data. ``plans`` has one entry per target that was read;
    ``unread`` names the targets that were not (their errors are the pipeline's). ``deferred``
    are (file, why) left for a later run because a target that may hold them was not read."""

    placement: Mapping[str, str]
    plans: Mapping[str, Plan]
    moves: tuple[Move, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    blockers: tuple[Blocker, ...] = ()
    deferred: tuple[tuple[str, str], ...] = ()
    unread: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(
            self.moves
            or any(p.has_changes for p in self.plans.values())
            or any(d.keep is None for d in self.duplicates)
            or self.deferred
        )

    @property
    def is_blocked(self) -> bool:
        return bool(self.blockers) or any(p.is_blocked for p in self.plans.values())

    def moves_touching(self, target: str) -> list[Move]:
        return [
            m
            for m in self.moves
            if target in (m.source, m.dest) or any(c.target == target for c in m.drop)
        ]


def make_fleet_plan(
    desired: FleetDesired,
    lives: Mapping[str, TargetLive],
    options: FleetPlanOptions,
    *,
    pending: Mapping[str, str] | None = None,
) -> FleetPlan:
    """The fleet plan: placement, moves, duplicates and each read target's own plan.

    ``lives`` holds the targets that were read (a target missing from it is unread: nothing is
    planned there, and nothing is created elsewhere that it might hold). ``pending`` maps the
    names of unfinished moves in the journal to their destination: they are shown as moves and
    never created from source meanwhile."""
    pending = dict(pending or {})
    placed = desired.placed()
    declared = {f.name for f in desired.files}
    unread = tuple(t for t in desired.names if t not in lives)
    order = {name: i for i, name in enumerate(desired.names)}

    copies = _copies(lives, order)
    ctx = _Ctx(
        placed, declared, lives, order, frozenset(t.name for t in desired.targets if t.drain)
    )
    for group in _credentials(copies, lives):
        _plan_credential(group, ctx)
    moves, duplicates, deferred = ctx.moves, ctx.duplicates, ctx.deferred
    handled, incoming = ctx.handled, ctx.incoming
    for name, dest in sorted(pending.items()):
        if any(c.name == name for c in copies):
            continue  # still live somewhere: the journal entry is dropped, the plan moves it
        moves.append(
            Move(
                name,
                dest,
                name,
                dest,
                "unfinished move: completed from the journal",
                (),
                True,
                True,
            )
        )
        incoming.add((dest, name))

    live_anywhere = {c.name for c in copies}
    plans: dict[str, Plan] = {}
    for tname in desired.names:
        if tname not in lives:
            continue
        state = desired.states[tname]
        mine = []
        for f in desired.share(tname):
            if (tname, f.name) in incoming:
                continue
            if unread and f.name not in live_anywhere and f.name not in pending:
                deferred.append(
                    (
                        f.name,
                        f"not created on {tname}: target {', '.join(unread)} was not read and "
                        "may hold it",
                    )
                )
                continue
            mine.append(f)
        tstate = dataclasses.replace(state, auth_files=tuple(mine))
        live = lives[tname].live
        view = {
            n: f
            for n, f in live.auth_files.items()
            if (tname, n) not in handled and not (n in declared and placed.get(n) != tname)
        }
        tlive = dataclasses.replace(live, auth_files=view)
        plans[tname] = make_plan(tstate, tlive, options.per_target.get(tname, PlanOptions()))

    blockers = _move_blockers(desired, plans, moves, options)
    return FleetPlan(
        placement=placed,
        plans=plans,
        moves=tuple(moves),
        duplicates=tuple(duplicates),
        blockers=tuple(blockers),
        deferred=tuple(deferred),
        unread=unread,
    )


def _copies(lives: Mapping[str, TargetLive], order: Mapping[str, int]) -> list[Copy]:
    out: list[Copy] = []

    def rank(tname: str) -> int:
        return order.get(tname, len(order))  # pragma: no mutate: every read target is listed

    for tname in sorted(lives, key=rank):
        tl = lives[tname]
        for name in sorted(tl.live.auth_files):
            info = tl.credentials.get(name)
            out.append(Copy(tname, name, info.last_refresh if info else None))
    return out


def _info(lives: Mapping[str, TargetLive], copy: Copy) -> CredentialInfo:
    info = lives[copy.target].credentials.get(copy.name)
    if info is not None:
        return info
    live: LiveAuthFile = lives[copy.target].live.auth_files[copy.name]
    return CredentialInfo(copy.name, live.provider, live.email)


@dataclass
class _Ctx:
    """What planning the credentials reads and collects."""

    placed: Mapping[str, str]
    declared: set[str]
    lives: Mapping[str, TargetLive]
    order: Mapping[str, int]
    draining: frozenset[str]
    moves: list[Move] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    handled: set[tuple[str, str]] = field(default_factory=set)  # out of a target's own plan
    incoming: set[tuple[str, str]] = field(default_factory=set)  # arrives by a move


def _credentials(copies: list[Copy], lives: Mapping[str, TargetLive]) -> list[list[Copy]]:
    """Union-find: two copies on different targets are one credential when they have the same
    name or the same identity (an identity that is only a file name joins by name alone)."""
    parent = list(range(len(copies)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first_by: dict[tuple[str, str], int] = {}
    for i, c in enumerate(copies):
        ident = identity(_info(lives, c))
        # not mutated: the two tags only need to differ, and a file: identity keyed by id too
        # would join only copies of the same name, which the name key joins already
        by_id = [] if ident.startswith("file:") else [("id", ident)]  # pragma: no mutate
        keys = [("name", c.name), *by_id]  # pragma: no mutate
        for key in keys:
            j = first_by.setdefault(key, i)
            if j != i:
                union(i, j)
    groups: dict[int, list[Copy]] = {}
    for i, c in enumerate(copies):
        groups.setdefault(find(i), []).append(c)
    return list(groups.values())


def _newest(copies: list[Copy], prefer: Copy | None, order: Mapping[str, int]) -> Copy:
    """The copy with the newest ``last_refresh`` (RFC 3339 in UTC sorts as text; a missing one
    is oldest); on a tie ``prefer``, then the target listed first, then the name."""

    def key(c: Copy) -> tuple[str, bool, int, str]:
        listed = order.get(c.target, 0)  # pragma: no mutate: every copy's target is listed
        return (c.last_refresh or "", c == prefer, -listed, c.name)

    return max(copies, key=key)


def _plan_credential(group: list[Copy], ctx: _Ctx) -> None:
    """Plan one credential: a move when its only copies sit on one target it is not placed
    on, a duplicate (resolved, or said why not) when it is live on two or more targets."""
    placed, declared, lives, order = ctx.placed, ctx.declared, ctx.lives, ctx.order
    moves, duplicates, deferred = ctx.moves, ctx.duplicates, ctx.deferred
    handled, incoming = ctx.handled, ctx.incoming
    targets = {c.target for c in group}
    names = sorted({c.name for c in group if c.name in declared})
    ident = identity(_info(lives, group[0]))
    if len(targets) == 1:
        # On one server: each declared name placed elsewhere moves (same-server copies under
        # other names are that server's own business: prune or unmanaged).
        for c in group:
            dest = placed.get(c.name)
            if c.name not in declared or dest is None or dest == c.target:
                continue
            if dest not in lives:
                deferred.append((c.name, f"not moved from {c.target}: target {dest} was not read"))
                # not mutated (here and below): a declared name placed elsewhere is out of this
                # target's plan anyway
                handled.add((c.target, c.name))  # pragma: no mutate
                continue
            why = f"placed on {dest}" + (
                f" ({c.target} drains)" if c.target in ctx.draining else ""
            )
            moves.append(Move(c.name, c.target, c.name, dest, why))
            handled.add((c.target, c.name))  # pragma: no mutate
            incoming.add((dest, c.name))
        return
    copies = tuple(group)
    if len(names) != 1:
        note = (
            "not resolved: none of its names is in the desired state (declare one, or delete "
            "the others)"
            if not names
            else f"not resolved: it is declared under several names ({', '.join(names)})"
        )
        duplicates.append(Duplicate(ident, copies, None, note))
        return
    name = names[0]
    dest = placed.get(name)
    if dest is None or dest not in lives:
        duplicates.append(
            Duplicate(ident, copies, None, f"not resolved: its target {dest} was not read")
        )
        for c in group:
            handled.add((c.target, c.name))
        return
    at_place = Copy(dest, name)
    prefer = next((c for c in group if (c.target, c.name) == (dest, name)), None)
    keep = _newest(list(group), prefer, order)
    # Copies on the placed target under another name are that server's own business.
    drop = tuple(c for c in group if c != keep and not (c.target == dest and c.name != name))
    transfer = (keep.target, keep.name) != (at_place.target, at_place.name)
    how = (
        f"keep {keep.address} (newest last_refresh)"
        + (f", moved to {dest}/{name}" if transfer else "")
        + (f"; delete {', '.join(c.address for c in drop)} after a backup" if drop else "")
    )
    duplicates.append(Duplicate(ident, copies, keep, how))
    moves.append(
        Move(
            name,
            keep.target,
            keep.name,
            dest,
            f"duplicate credential {ident}: {how}",
            drop,
            transfer,
        )
    )
    for c in (keep, *drop):
        handled.add((c.target, c.name))
    handled.add((dest, name))  # pragma: no mutate: it is keep or in drop when it is live
    incoming.add((dest, name))


def _move_blockers(
    desired: FleetDesired, plans: Mapping[str, Plan], moves: list[Move], options: FleetPlanOptions
) -> list[Blocker]:
    """max-deletions per source: a target's own deletes plus what moves take off it."""
    out: list[Blocker] = []
    if options.allow_mass_delete:
        return out
    for tname, plan in plans.items():
        moved = sum(m.deletes_on(tname) for m in moves)
        if not moved:
            continue
        total = moved + plan.count("delete")
        limit = desired.states[tname].auth_policy.max_deletions
        if total > limit:
            out.append(
                Blocker(
                    "mass-delete",
                    f"target {tname}: the plan takes {total} auth files off it ({moved} by "
                    f"moves), more than its max-deletions ({limit})",
                    "--allow-mass-delete",
                )
            )
    return out
