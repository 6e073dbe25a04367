"""Credential health and quota: which OAuth credentials on a CPA server work, and how much of
their provider quota is left.

Owns the per-provider quota recipes (``recipes``: the upstream requests a quota read sends
through CPA's ``POST /api-call``, the parsing of the answers and the failure classes; pure, no
I/O), the health of a credential as ``GET /auth-files`` lists it (``health``: pure), the
status report and its JSON format (``report``: pure), and running the recipes through the
Management client with bounded concurrency (``reader``).

May import: ``client``, ``core``, ``errors``.
"""
