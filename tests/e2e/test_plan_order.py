"""The plan lists its actions in the order apply runs them (core/plan.py's docstring, and
docs/plan-format.md): the config, then auth-file creates, updates, replaces, deletes. Checked
with one plan holding every kind, applied to the emulator over real HTTP: what apply reports as
done, in order, is the plan's list; and the text plan shows them in that order too."""

from __future__ import annotations

from pathlib import Path

from e2e_helpers import KEY, Project, auth_source, desired_doc

from reconciler.core.plan import OP_ORDER
from reconciler.emulator import Emulator
from reconciler.output import render
from reconciler.pipeline import apply as executor
from reconciler.pipeline import planning
from reconciler.statedir.backup import Backup


def test_the_plan_order_is_the_apply_order(project: Project, emu: Emulator, tmp_path: Path) -> None:
    for name in ("a-upd.json", "b-rep.json", "c-del.json", "d-del.json"):
        emu.write_auth_file(name, auth_source(f"{name[:5]}@example.com"))
    files = [
        # names chosen so that sorting by name alone would interleave the kinds
        {"name": "z-new.json", "source": project.source("auth/z.json", auth_source("z@x.io"))},
        {"name": "a-upd.json", "disabled": True},
        {
            "name": "b-rep.json",
            "source": project.source("auth/b.json", auth_source("b@x.io")),
            "replace": True,
        },
    ]
    project.write(desired_doc(config={"debug": True}, files=files, prune=True))
    loaded = planning.load(str(project.desired), {"CPA_MANAGEMENT_KEY": KEY})
    target = planning.target_for(
        loaded, planning.TargetOptions(url=emu.url), {"CPA_MANAGEMENT_KEY": KEY}
    )
    with planning.make_client(target) as client:
        planned = planning.plan_once(loaded, target, client, allow_replace=True)
        plan = planned.plan
        listed = [f"{a.op} {a.address}" for a in plan.actions]
        assert listed == [
            "update config/config.yaml",
            "create auth-file/z-new.json",
            "update auth-file/a-upd.json",
            "replace auth-file/b-rep.json",
            "delete auth-file/c-del.json",
            "delete auth-file/d-del.json",
        ]
        assert [a.op for a in plan.actions[1:]] == sorted(
            (a.op for a in plan.actions[1:]), key=OP_ORDER.index
        )
        text = render.render_text(plan, secret_paths=loaded.state.secret_paths)
        shown = [text.index(a.name) for a in plan.actions]
        assert shown == sorted(shown)

        result = executor.apply_plan(
            plan,
            loaded.state,
            planned.live,
            client,
            Backup.new(tmp_path / "state", target.url),
            seed_key=planning.SEED_KEY,
        )
    assert result.done == listed
