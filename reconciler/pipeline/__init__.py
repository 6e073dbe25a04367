"""The plan/apply pipeline: live state in, plan out, plan executed.

Owns reading the live server into ``core.model.LiveState`` (``live``), making a plan from a
desired state and a target (``planning``), the saved plan file (``planfile``), the round-trip
rewrite of CPA's config.yaml (``config_document``) and the executor that applies a plan
(``apply``).

May import: ``core``, ``client``, ``desired``, ``output``, ``statedir``, ``errors``,
``local_files``. Never the daemon or the commands.
"""
