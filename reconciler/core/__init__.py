"""The pure core: models, normalisation, the config and auth-file diffs, safety rules, the plan.

Owns what "the same" means for CPA's config and auth files and what a plan is, as data. No I/O:
no network, no files, no clock it is not given. Everything else calls into it.

May import: nothing of the reconciler outside ``reconciler.core`` (checked by
tests/test_architecture.py).
"""
