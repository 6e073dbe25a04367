"""The commands of ``reconciler <command>``: one module per command, the only place that wires
everything together (desired state, client, pipeline, output, state directory, daemon).

Each module defines ``add_arguments(parser)`` and ``run(args) -> int`` (its one-line summary is in
``reconciler.cli.COMMANDS``); ``options``
holds the flags several commands share. ``reconciler.cli`` imports a command's module only when
that command runs.
"""
