"""The desired state: reading the operator's YAML file into ``core.model.DesiredState``.

Owns the YAML reader with line numbers and bounds (``yaml_io``), ``${env:}``/``${file:}``
references (``references``), CPA's rules for declared auth-file fields (``field_rules``), the
loader that turns a file into a checked desired state with file:line errors (``loader``) and the
parse of a large file on a second core while a command starts (``parse_ahead``).

May import: ``reconciler.core``, ``reconciler.errors``, ``reconciler.gc_pause``,
``reconciler.local_files`` (bounded reads of the files it names). No client, no
network: loading a desired state sends no request.
"""
