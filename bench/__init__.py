"""The benchmark of issue 5, ``python -m bench``: speed and scale, measured side by side.

One run starts the CPA emulator in this process, seeds it, and measures each figure against its
baselines in the same run: a no-change ``plan`` against the *floor* (only the unavoidable GETs,
bare httpx) and a *naive* reconciler (downloads every file); an ``apply`` of 1,000 creates
against one request per file; the daemon's memory over 1,000 cycles. Every measured operation
runs in a fresh subprocess (``bench.worker``) so that its wall time and peak memory are its own,
not the emulator's; requests are counted from the emulator's request log.

Modules: ``fixtures`` (the files and the seeded emulator), ``worker`` (the jobs, run in a
subprocess), ``runner`` (launch a job, count its requests), ``scenarios`` (what is measured and
the targets), ``table`` (text and Markdown output).
"""
