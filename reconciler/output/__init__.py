"""What a plan looks like to people and programs: text, Markdown and the JSON plan format.

Owns the plan JSON (``plan_json``: format version, masks, fingerprints) and the text/Markdown
renderers (``render``). Pure functions of a plan: no network, no files.

May import: ``core``, ``errors``.
"""
