"""The commands of ``reconciler <command>``: one module per command, the only place that wires
everything together (desired state, client, pipeline, output, state directory, daemon).

Each module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; ``options``
holds the flags several commands share. ``reconciler.cli`` imports a command's module only when
that command runs.
"""
