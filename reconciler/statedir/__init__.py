"""The state directory (``.reconciler/`` beside the desired file, or ``--state-dir``).

Owns what the reconciler keeps on the operator's disk between runs: the apply lock (``lock``)
and the backups of what an apply replaced or deleted (``backup``).

May import: ``core``, ``errors``.
"""
