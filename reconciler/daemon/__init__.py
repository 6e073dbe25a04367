"""The drift daemon: a reconcile cycle on an interval, with events, metrics and probes.

Owns the scheduled cycle (``cycle``), drift tracking and its de-duplication (``drift``), JSON
events (``events``), the webhook (``webhook``), Prometheus metrics (``metrics``), the
/healthz /readyz /metrics server (``health``), backoff (``backoff``) and the service that runs
them all (``service``).

May import: ``core``, ``client``, ``desired``, ``pipeline``, ``output``, ``statedir``,
``errors``, ``local_files``. Only ``reconciler.commands`` imports it.
"""
