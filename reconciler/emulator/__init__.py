"""A CPA (CLIProxyAPI) v7.2.140 emulator: a real HTTP server on loopback for tests and demos.

``Emulator`` serves the Management API with the recorded statuses, bodies and headers, keeps
its config.yaml and auth files on disk, and lets tests observe requests and inject faults.
"""

from __future__ import annotations

from reconciler.emulator.emulator import Emulator
from reconciler.emulator.request_log import RequestRecord

__all__ = ["Emulator", "RequestRecord"]
