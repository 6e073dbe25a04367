"""Read the live state of a CPA through the Management API, with as few requests as possible.

A no-change plan costs two requests (``GET /config.yaml`` and ``GET /auth-files``), plus one
download per auth file whose declared fields the listing cannot confirm. The listing is only a
shortcut: it omits fields it does not carry (``proxy_url``, ...) and shows the ones it does
carry lossily (no ``priority`` of 0, no blank ``note``, notes trimmed, numbers coerced), so a
declared value the listing does not show as equal is checked against the file itself.
Downloaded content is kept only for planning and never printed: it holds live tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler import errors
from reconciler.core import auth_diff
from reconciler.core.model import DesiredAuthFile, DesiredState, LiveAuthFile, LiveState
from reconciler.core.normalize import MISSING
from reconciler.gc_pause import gc_paused
from reconciler.pipeline import config_document

if TYPE_CHECKING:
    from reconciler.client.management import ManagementClient
    from reconciler.client.models import AuthFileSummary


Listing = Callable[[list["AuthFileSummary"]], None]


@dataclass(frozen=True)
class Reads:
    """The reads every plan makes: ``config.yaml`` (its text and data, None when the config
    is not managed) and the auth-file listing."""

    config: tuple[str, dict[str, Any]] | None
    files: dict[str, LiveAuthFile]


def read_config(client: ManagementClient) -> tuple[str, dict[str, Any]]:
    """``GET /config.yaml``: its text and its data."""
    raw = client.get_config_yaml()
    return raw, config_document.parse(raw)


def read_files(
    client: ManagementClient, on_listing: Listing | None = None
) -> dict[str, LiveAuthFile]:
    """``GET /auth-files``, by name; ``on_listing`` sees the listing as read."""
    # Tens of thousands of new objects at 10,000 files, none in a cycle (see gc_pause).
    with gc_paused():
        summaries = client.list_auth_file_summaries()
        if on_listing is not None:
            on_listing(summaries)
        return {f.name: to_live_auth_file(f) for f in summaries}


def fetch_live(
    client: ManagementClient,
    desired: DesiredState,
    *,
    on_listing: Listing | None = None,
    reads: Reads | None = None,
) -> LiveState:
    """The live config (when the desired state manages it) and the auth-file set.
    ``on_listing`` sees the listing as read (a fleet takes the credentials' identities).
    ``reads``: the two reads, already made (``pipeline.prefetch``)."""
    if reads is None:
        if desired.config is None:
            reads = Reads(None, read_files(client, on_listing))
        else:
            # Both reads at once when the key is known to work (the config parsed meanwhile).
            reads = Reads(
                *client.together(
                    lambda: read_config(client), lambda: read_files(client, on_listing)
                )
            )
    text, config = (
        reads.config if reads.config is not None and desired.config is not None else (None, None)
    )
    files = dict(reads.files)
    for entry in desired.auth_files:
        have = files.get(entry.name)
        if have is not None and _needs_content(entry, have):
            files[entry.name] = _with_content(have, download_json(client, entry.name))
    version = client.server_version.version if client.server_version else None
    return LiveState(text, config, files, version)


def _needs_content(entry: DesiredAuthFile, have: LiveAuthFile) -> bool:
    """Whether planning ``entry`` must read the file: a field the listing lacks, a re-seed
    check, or a declared value the (lossy) listing does not show as equal."""
    if auth_diff.needs_download(entry):
        return True
    return any(
        not auth_diff.field_equal(want, have.listed.get(key, MISSING))
        for key, want in entry.fields.items()
    )


def to_live_auth_file(info: AuthFileSummary) -> LiveAuthFile:
    # Read only the listed policy fields: dumping the whole entry (20 recent_requests buckets
    # each) cost ~0.3 s of a no-change plan at 10,000 files.
    listed = {k: v for k in auth_diff.LISTED_FIELDS if (v := getattr(info, k, None)) is not None}
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
    except (ValueError, RecursionError) as exc:
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
