"""Read the live state of a CPA through the Management API, with as few requests as possible.

A no-change plan costs two requests (``GET /config.yaml`` and ``GET /auth-files``), plus one
download per auth file whose declared fields the listing does not show. Downloaded content is
kept only for planning and never printed: it holds live tokens.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reconciler import config_document, errors
from reconciler.core import auth_diff
from reconciler.core.model import DesiredState, LiveAuthFile, LiveState

if TYPE_CHECKING:
    from reconciler.api_models import AuthFileInfo
    from reconciler.client import ManagementClient


def fetch_live(client: ManagementClient, desired: DesiredState) -> LiveState:
    """The live config (when the desired state manages it) and the auth-file set."""
    text: str | None = None
    config: dict[str, Any] | None = None
    if desired.config is not None:
        text = client.get_config_yaml()
        config = config_document.parse(text)
    listing = {f.name: f for f in client.list_auth_files()}
    files = {name: to_live_auth_file(info) for name, info in listing.items()}
    for entry in desired.auth_files:
        if entry.name in files and auth_diff.needs_download(entry):
            files[entry.name] = _with_content(files[entry.name], download_json(client, entry.name))
    version = client.server_version.version if client.server_version else None
    return LiveState(text, config, files, version)


def to_live_auth_file(info: AuthFileInfo) -> LiveAuthFile:
    data = info.model_dump(exclude_none=True)
    listed = {k: data[k] for k in auth_diff.LISTED_FIELDS if k in data}
    return LiveAuthFile(
        name=info.name,
        disabled=bool(info.disabled),
        provider=info.provider or info.type,
        email=info.email,
        listed=listed,
    )


def download_json(client: ManagementClient, name: str) -> dict[str, Any]:
    """An auth file's content as a mapping; a non-object answer is an error (content unsaid)."""
    raw = client.download_auth_file(name)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise errors.ApiError(
            f"GET /v0/management/auth-files/download?name={name}: the answer is not JSON"
        ) from exc
    if not isinstance(data, dict):
        raise errors.ApiError(
            f"GET /v0/management/auth-files/download?name={name}: the answer is not a JSON object"
        )
    return data


def _with_content(live: LiveAuthFile, content: dict[str, Any]) -> LiveAuthFile:
    return LiveAuthFile(live.name, live.disabled, live.provider, live.email, live.listed, content)
