"""cpa-reconciler: declarative reconciler and typed Management API client for CLIProxyAPI."""

from __future__ import annotations

__version__ = "0.1.0"
