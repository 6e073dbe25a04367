"""Reading quotas through CPA: the recipes run over ``POST /api-call``, several at a time.

Rules (issue 12, quota-and-oauth.md section 1):

* Only credentials that are enabled, of a provider with a recipe, and whose ``auth_index`` is
  in the listing just read get a call: CPA sends an unknown index's ``$TOKEN$`` upstream
  literally. ``$TOKEN$`` only ever goes in a header value.
* At most ``concurrency`` calls at once (each costs CPA a bcrypt check and the upstream's time).
* A 401 or 403 from CPA itself (the management key) stops every call at once: the client
  refuses to send after it, workers stop before their next call, and ``read_quotas`` raises it.
* Anything else that goes wrong with one credential (its upstream, CPA's 502, a bad answer) is
  that credential's failure class; the others still report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.quota import recipes
from reconciler.quota.health import Health
from reconciler.quota.recipes import Answer, CpaFailure, Failure, Reading

DEFAULT_CONCURRENCY = 4


@dataclass
class QuotaRead:
    """What a quota read found: a reading per credential read, a note per one not read."""

    readings: dict[str, Reading] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_call(self) -> None:
        with self._lock:
            self.calls += 1


def plan_reads(
    healths: Iterable[Health],
) -> tuple[list[Health], dict[str, Reading], dict[str, str]]:
    """Which credentials get calls; readings for those that fail without one; notes for the
    ones not read at all (disabled)."""
    to_read: list[Health] = []
    readings: dict[str, Reading] = {}
    notes: dict[str, str] = {}
    for h in healths:
        if h.disabled:
            notes[h.name] = "disabled: not read"
        elif not recipes.supported(h.provider):
            detail = f"no quota recipe for provider {h.provider}"
            readings[h.name] = Reading(failure=Failure("unsupported", detail))
        elif not h.auth_index:
            detail = "no auth_index in the listing: not called (CPA would send $TOKEN$ literally)"
            readings[h.name] = Reading(failure=Failure("cpa_error", detail))
        else:
            to_read.append(h)
    return to_read, readings, notes


def read_quotas(
    client: ManagementClient,
    healths: Iterable[Health],
    *,
    endpoints: Mapping[str, str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    clock: Callable[[], float] = time.time,
    stop: threading.Event | None = None,
) -> QuotaRead:
    """Read the quota of every enabled, supported credential in ``healths`` (the listing)."""
    listed = list(healths)
    indexes = {h.auth_index for h in listed if h.auth_index}
    to_read, readings, notes = plan_reads(listed)
    result = QuotaRead(readings=readings, notes=notes)
    halt = stop if stop is not None else threading.Event()
    refused: list[errors.ApiError] = []

    def read_one(h: Health) -> None:
        if halt.is_set():
            return
        try:
            reading = _run(client, h, indexes, endpoints, clock(), halt, result)
        except (errors.UnauthorizedError, errors.ForbiddenError) as exc:
            halt.set()
            refused.append(exc)
            return
        if reading is not None:
            with result._lock:
                result.readings[h.name] = reading

    workers = max(1, min(concurrency, len(to_read) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quota") as pool:
        for future in [pool.submit(read_one, h) for h in to_read]:
            future.result()
    for h in to_read:
        if h.name not in result.readings:
            result.notes[h.name] = "not read: stopped"
    if refused:
        raise refused[0]
    return result


def _run(
    client: ManagementClient,
    h: Health,
    indexes: set[str],
    endpoints: Mapping[str, str] | None,
    now: float,
    halt: threading.Event,
    result: QuotaRead,
) -> Reading | None:
    cred = h.credential()
    steps = recipes.recipe(cred, now, endpoints)
    try:
        call = next(steps)
        while True:
            if halt.is_set() or client.halted:
                steps.close()
                return None
            if cred.auth_index not in indexes or _token_outside_headers(call):
                steps.close()  # never reached: the recipes only use listed indexes in headers
                return Reading(failure=Failure("cpa_error", "refused to send: unsafe request"))
            call = steps.send(_call(client, cred.auth_index, call, result))
    except StopIteration as done:
        reading: Reading = done.value
        return reading


def _token_outside_headers(call: recipes.Call) -> bool:
    return recipes.TOKEN in call.url or recipes.TOKEN in (call.data or "")


def _call(
    client: ManagementClient, auth_index: str, call: recipes.Call, result: QuotaRead
) -> Answer | CpaFailure:
    result.count_call()
    try:
        answer = client.api_call(
            call.method, call.url, auth_index=auth_index, header=call.headers, data=call.data
        )
    except (errors.UnauthorizedError, errors.ForbiddenError):
        raise
    except errors.ApiError as exc:
        if exc.status == 502:
            detail = "CPA could not reach the upstream, or it took over 60 s (502)"
        elif exc.status is None:
            detail = f"no answer from CPA: {recipes.safe_text(str(exc))}"
        else:
            detail = f"api-call answered {exc.status}: {recipes.safe_text(exc.code or str(exc))}"
        return CpaFailure(exc.status, detail)
    return Answer(answer.status_code, answer.body, answer.headers)


# The classes a literal ``$TOKEN$`` upstream gets: the provider refuses the call as if the
# credential were dead (401, or 403).
_GONE_LOOKS_LIKE = ("auth_invalid", "suspended")
GONE_NOTE = "gone: deleted from CPA after the listing; its quota was not read"


def recheck_gone(client: ManagementClient, healths: Iterable[Health], read: QuotaRead) -> bool:
    """Whether a second listing was made: credentials whose call looked dead are checked to
    still be on CPA.

    CPA sends an unknown ``auth_index``'s ``$TOKEN$`` upstream literally, with no error
    (observed on v7.2.140), and the provider then refuses it as if the credential were dead.
    A file deleted between the listing and its call is therefore looked up again (one more
    ``GET /auth-files``, only when some call looked dead): one whose ``auth_index`` is no
    longer listed loses that reading and gets a note instead; it is never reported as a
    credential failure."""
    dead = [
        h
        for h in healths
        if (r := read.readings.get(h.name)) is not None
        and r.failure is not None
        and r.failure.cls in _GONE_LOOKS_LIKE
    ]
    if not dead:
        return False
    listed = {s.auth_index for s in client.list_auth_files() if s.auth_index}
    for h in dead:
        if h.auth_index not in listed:
            read.readings.pop(h.name, None)
            read.notes[h.name] = GONE_NOTE
    return True
