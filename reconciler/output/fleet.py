"""A fleet plan as text and as JSON, grouped by target (``docs/plan-format.md``, "Fleet").

Each target's own plan is rendered exactly as a single-target plan (its secrets masked with its
own fingerprint key); the moves, duplicates, deferred files and fleet-wide blockers follow. No
secret value is shown anywhere: moves and duplicates carry names, targets and identities
(provider and account, as the listing shows them) only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler import __version__
from reconciler.core.fleet import Copy, Duplicate, FleetPlan, Move
from reconciler.core.model import Path
from reconciler.output import plan_json, render

FLEET_FORMAT_VERSION = "1.2"


@dataclass(frozen=True)
class TargetView:
    """What the renderers need of one target besides its plan."""

    url: str
    fingerprint_key: bytes
    secret_paths: Iterable[Path] = ()
    server_version: str | None = None
    error: str | None = None
    selected: bool = True


def move_done_here(move: Move, chosen: Iterable[str]) -> bool:
    """Whether a run limited to ``chosen`` targets carries out ``move`` (it must touch no
    other target)."""
    names = set(chosen)
    touched = {move.dest, *(c.target for c in move.drop)}
    if move.transfer and not move.from_journal:
        touched.add(move.source)
    return touched <= names


def _move_text(move: Move, chosen: Iterable[str]) -> str:
    if move.from_journal:
        text = f"{move.name} -> {move.dest}: {move.reason}"
    elif move.transfer:
        src = f"{move.source}/{move.source_name}" if move.source_name != move.name else move.source
        text = f"{move.name}: {src} -> {move.dest} ({move.reason})"
    else:
        text = f"{move.name} stays on {move.dest}; {move.reason}"
    if not move_done_here(move, chosen):
        text += " [not done: it touches a target outside --target]"
    return text


def _copies_text(copies: Iterable[Copy]) -> str:
    return ", ".join(f"{c.target} ({c.name})" for c in copies)


def _duplicate_text(dup: Duplicate) -> str:
    return f"duplicate credential {dup.identity} on {_copies_text(dup.copies)}: {dup.note}"


def render_text(plan: FleetPlan, views: Mapping[str, TargetView], *, color: bool = False) -> str:
    chosen = [n for n, v in views.items() if v.selected]
    lines = [f"Fleet plan: {len(views)} target(s): {', '.join(views)}", ""]
    for name, view in views.items():
        if not view.selected:
            continue
        lines.append(f"== target {name} ==")
        if view.error is not None:
            lines += [
                f"error: target {name} ({plan_json.safe_url(view.url)}) was not read: {view.error}",
                "",
            ]
            continue
        lines.append(
            render.render_text(
                plan.plans[name],
                secret_paths=view.secret_paths,
                color=color,
                target=view.url,
                server_version=view.server_version,
                fingerprint_key=view.fingerprint_key,
            )
        )
    if plan.moves:
        lines.append("Moves (apply needs --allow-moves):")
        lines += [f"  ~> {_move_text(m, chosen)}" for m in plan.moves]
        lines.append("")
    if plan.duplicates:
        lines += [f"  ! {_duplicate_text(d)}" for d in plan.duplicates]
        lines.append("")
    if plan.deferred:
        lines += [f"Deferred: {name}: {why}" for name, why in plan.deferred]
        lines.append("")
    lines += [
        f"Blocked (exit 4): {b.message}" + (f" [override: {b.override}]" if b.override else "")
        for b in plan.blockers
    ]
    lines.append(summary_line(plan, views))
    return "\n".join(lines) + "\n"


def summary_line(plan: FleetPlan, views: Mapping[str, TargetView]) -> str:
    changed = [n for n, p in plan.plans.items() if p.has_changes and views[n].selected]
    failed = [n for n, v in views.items() if v.error is not None and v.selected]
    parts = [
        f"{len(plan.moves)} move(s)",
        f"{len(plan.duplicates)} duplicate(s)",
        "targets with changes: " + (", ".join(changed) if changed else "none"),
    ]
    if failed:
        parts.append("not read: " + ", ".join(failed))
    return "Fleet: " + "; ".join(parts) + "."


def _copy(c: Copy) -> dict[str, Any]:
    return {"target": c.target, "name": c.name, "last_refresh": c.last_refresh}


def to_json(
    plan: FleetPlan,
    views: Mapping[str, TargetView],
    *,
    desired_path: str,
    created_at: str,
    fingerprints: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The fleet plan document: one section per target (its single-target plan document, or
    its error), then ``moves``, ``duplicates``, ``deferred`` and ``blockers``.
    ``fingerprints``: per target, its desired and live fingerprints (a saved plan's)."""
    prints = fingerprints or {}
    chosen = [n for n, v in views.items() if v.selected]
    targets: dict[str, Any] = {}
    for name, view in views.items():
        section: dict[str, Any] = {
            "url": plan_json.safe_url(view.url),
            "selected": view.selected,
            "error": view.error,
            "plan": None,
        }
        if name in plan.plans and view.selected:
            section["plan"] = plan_json.plan_to_json(
                plan.plans[name],
                secret_paths=view.secret_paths,
                fingerprint_key=view.fingerprint_key,
                meta={
                    "target": {"url": view.url, "server_version": view.server_version},
                    "desired_path": desired_path,
                    "created_at": created_at,
                    "desired_fingerprint": prints[name][0] if name in prints else None,
                    "live_fingerprint": prints[name][1] if name in prints else None,
                },
            )
        targets[name] = section
    return {
        "format_version": FLEET_FORMAT_VERSION,
        "tool": {"name": plan_json.TOOL_NAME, "version": __version__},
        "kind": "fleet",
        "desired_path": desired_path,
        "created_at": created_at,
        "targets": targets,
        "placement": dict(sorted(plan.placement.items())),
        "moves": [
            {
                "name": m.name,
                "from": {"target": m.source, "name": m.source_name},
                "to": {"target": m.dest, "name": m.name},
                "reason": m.reason,
                "transfer": m.transfer,
                "drop": [_copy(c) for c in m.drop],
                "from_journal": m.from_journal,
                "done_here": move_done_here(m, chosen),
            }
            for m in plan.moves
        ],
        "duplicates": [
            {
                "identity": d.identity,
                "copies": [_copy(c) for c in d.copies],
                "keep": _copy(d.keep) if d.keep is not None else None,
                "note": d.note,
            }
            for d in plan.duplicates
        ],
        "deferred": [{"name": n, "reason": why} for n, why in plan.deferred],
        "blockers": [
            {"rule": b.rule, "message": b.message, "override": b.override} for b in plan.blockers
        ],
        "summary": {
            "moves": len(plan.moves),
            "duplicates": len(plan.duplicates),
            "has_changes": plan.has_changes,
            "blocked": plan.is_blocked,
            "failed_targets": [n for n, v in views.items() if v.error is not None],
        },
    }


def render_markdown(plan: FleetPlan, views: Mapping[str, TargetView]) -> str:
    """The fleet plan as GitHub Markdown: a title, each target's own Markdown plan (as a
    single-target plan renders it; an unread target says why), then the moves, duplicates,
    deferred files and fleet blockers, and the summary line."""
    chosen = [n for n, v in views.items() if v.selected]
    parts = [f"## {render._md_escape(f'{plan_json.TOOL_NAME}: fleet plan ({len(views)} targets)')}"]
    for name, view in views.items():
        if not view.selected:
            continue
        if view.error is not None or name not in plan.plans:
            why = view.error or "not read"
            text = f"target {name} ({plan_json.safe_url(view.url)}) was not read: {why}"
            parts.append(
                f"### target {render._md_escape(name)}\n\n**error:** {render._md_escape(text)}"
            )
            continue
        body = render.render_markdown(
            plan.plans[name],
            secret_paths=view.secret_paths,
            target=view.url,
            server_version=view.server_version,
            fingerprint_key=view.fingerprint_key,
        ).rstrip("\n")
        parts.append(
            f"### target {render._md_escape(name)}\n\n"
            + ("#" + body if body.startswith("### ") else body)
        )
    if plan.moves:
        items = [
            f"{render._md_code('~>')} {render._md_escape(_move_text(m, chosen))}"
            for m in plan.moves
        ]
        parts.append(render._md_list("Moves (apply needs --allow-moves)", items))
    if plan.duplicates:
        items = [
            f"{render._md_code('!')} {render._md_escape(_duplicate_text(d))}"
            for d in plan.duplicates
        ]
        parts.append(render._md_list("Duplicates", items))
    if plan.deferred:
        items = [render._md_escape(f"{name}: {why}") for name, why in plan.deferred]
        parts.append(render._md_list("Deferred", items))
    if plan.blockers:
        parts.append(
            render._md_list("Blocked (exit 4)", [render._md_blocker(b) for b in plan.blockers])
        )
    parts.append(f"**{render._md_escape(summary_line(plan, views))}**")
    return "\n\n".join(parts) + "\n"
