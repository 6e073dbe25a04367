"""The typed client for CPA's Management API (``/v0/management``): the client adapter.

Owns every HTTP exchange with a CPA server: ``management.ManagementClient`` (the public entry
point), ``transport`` (auth header, ban safety, retries, bounds, error translation),
``errors`` (CPA's answers -> ``reconciler.errors``), ``config`` (the config endpoints) and
``models`` (pydantic models of the answers).

May import: ``reconciler.errors`` and its own modules. Nothing else of the reconciler: it is
usable on its own (``from reconciler.client.management import ManagementClient``).
"""

from __future__ import annotations

from reconciler.client.management import ManagementClient

__all__ = ["ManagementClient"]
