"""The health of a credential as CPA's ``GET /auth-files`` lists it. Pure.

State, in this order: ``disabled`` (``disabled: true``), ``unavailable`` (cooling down:
``unavailable: true``, or ``next_retry_after`` still ahead), ``error`` (CPA's ``status`` is
``error``: the credential failed), else ``ok`` (``active``, ``pending``, ``refreshing``,
``unknown``). ``healthy`` is ``ok`` or ``disabled`` (switched off on purpose).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.quota.recipes import Credential, instant, normalise_provider, safe_text

STATES = ("ok", "disabled", "unavailable", "error")
UNHEALTHY_STATES = ("unavailable", "error", "missing")


@dataclass(frozen=True)
class Health:
    """One listed credential: identity, state and CPA's own request counts."""

    name: str
    provider: str
    auth_index: str | None
    account: str | None
    plan: str | None
    state: str
    status: str | None
    status_message: str
    disabled: bool
    last_refresh: float | None
    next_retry_after: float | None
    success: int
    failed: int
    recent_success: int
    recent_failed: int
    account_id: str | None = None
    project_id: str | None = None
    account_field: str | None = None

    @property
    def healthy(self) -> bool:
        return self.state in ("ok", "disabled")

    def credential(self) -> Credential:
        """What a quota recipe needs (``auth_index`` must be set)."""
        return Credential(
            name=self.name,
            provider=self.provider,
            auth_index=self.auth_index or "",
            account_id=self.account_id,
            plan=self.plan,
            project_id=self.project_id,
            account=self.account_field,
        )


def _get(entry: Any, key: str) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(key)
    value = getattr(entry, key, None)
    if value is None:
        extra = getattr(entry, "model_extra", None)
        if isinstance(extra, dict):
            return extra.get(key)
    return value


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value) if math.isfinite(value) and value > 0 else 0


def health_of(entry: Any, now: float) -> Health:
    """The health of one listing entry (an ``AuthFileInfo`` or its JSON object)."""
    name = str(_get(entry, "name") or "")
    provider = normalise_provider(_text(_get(entry, "provider")) or _text(_get(entry, "type")))
    disabled = _get(entry, "disabled") is True
    status = _text(_get(entry, "status"))
    retry = instant(_get(entry, "next_retry_after"))
    if retry is not None and retry <= 0:
        retry = None
    if disabled:
        state = "disabled"
    elif _get(entry, "unavailable") is True or (retry is not None and retry > now):
        state = "unavailable"
    elif status == "error":
        state = "error"
    else:
        state = "ok"
    id_token = _get(entry, "id_token")
    claims = id_token if isinstance(id_token, Mapping) else {}
    plan = _text(claims.get("plan_type"))
    buckets = _get(entry, "recent_requests")
    recent_ok = recent_failed = 0
    for bucket in buckets if isinstance(buckets, list) else []:
        if isinstance(bucket, Mapping):
            recent_ok += _int(bucket.get("success"))
            recent_failed += _int(bucket.get("failed"))
    return Health(
        name=name,
        provider=provider or "unknown",
        auth_index=_text(_get(entry, "auth_index")),
        account=_text(_get(entry, "email")) or _text(_get(entry, "account")),
        plan=plan.lower() if plan else None,
        state=state,
        status=status,
        status_message=safe_text(_text(_get(entry, "status_message")) or ""),
        disabled=disabled,
        last_refresh=instant(_get(entry, "last_refresh")),
        next_retry_after=retry,
        success=_int(_get(entry, "success")),
        failed=_int(_get(entry, "failed")),
        recent_success=recent_ok,
        recent_failed=recent_failed,
        account_id=_text(claims.get("chatgpt_account_id")),
        project_id=_text(_get(entry, "project_id")),
        account_field=_text(_get(entry, "account")),
    )


def health_list(entries: Iterable[Any], now: float) -> list[Health]:
    return sorted((health_of(entry, now) for entry in entries), key=lambda h: h.name.lower())
