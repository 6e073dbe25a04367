"""The published JSON Schema of the desired-state file."""

from __future__ import annotations

import json

from reconciler.desired.loader import SCHEMA_PATH, desired_state_schema, render_schema


def test_committed_schema_is_up_to_date() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == render_schema(), (
        "reconciler/schema/desired-state.schema.json is stale: "
        "run `.venv/bin/python -m reconciler.desired.loader` and commit the result"
    )


def test_schema_header_and_kebab_keys() -> None:
    schema = desired_state_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "cpa-reconciler desired state"
    assert set(schema["properties"]) == {
        "target",
        "config",
        "config-file",
        "config-policy",
        "auth-files",
        "targets",  # a fleet file
        "target-config",
    }
    assert schema["additionalProperties"] is False
    auth_files = schema["$defs"]["AuthFilesSpec"]["properties"]
    assert "max-deletions" in auth_files
    assert json.loads(render_schema()) == schema
