"""Everything one running emulator holds, shared by its request handlers.

Owns the wiring of the stores (config, auth files, OAuth sessions), access control, faults,
the request log and the build identity the server reports in its ``X-CPA-*`` headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.emulator.access import AccessControl
from reconciler.emulator.auth_store import AuthStore
from reconciler.emulator.config_store import ConfigStore
from reconciler.emulator.defaults import SUPPORT_PLUGIN
from reconciler.emulator.faults import FaultPlan
from reconciler.emulator.oauth import OAuthSessions
from reconciler.emulator.request_log import RequestLog


@dataclass(frozen=True)
class BuildInfo:
    """What ``X-CPA-VERSION`` and friends say."""

    version: str
    commit: str
    build_date: str
    support_plugin: str = SUPPORT_PLUGIN

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("X-Cpa-Build-Date", self.build_date),
            ("X-Cpa-Commit", self.commit),
            ("X-Cpa-Support-Plugin", self.support_plugin),
            ("X-Cpa-Version", self.version),
        ]


@dataclass
class EmulatorState:
    """The shared state of one emulator instance."""

    config: ConfigStore
    auths: AuthStore
    access: AccessControl
    oauth: OAuthSessions
    faults: FaultPlan
    log: RequestLog
    build: BuildInfo
    auth_cost: float = 0.0
    #: how long ``/api-call`` waits for the upstream (CPA: 60 s; tests shorten it)
    upstream_timeout: float = 60.0
