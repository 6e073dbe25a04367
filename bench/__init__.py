"""The benchmark of issue 5, ``python -m bench``: speed and scale, measured side by side.

One run starts the CPA emulator in this process (the fleet row: each emulator in a process of
its own), seeds it, and measures each figure against its baselines in the same run: the whole
``reconciler plan`` command as a user runs it against a *minimal script* (Python, ``import
httpx``, the two GETs no plan can avoid), its time split up,
the *floor* (the two GETs, imports excluded) and a *naive* reconciler (downloads every file); an
``apply`` of 1,000 creates against one request per file; the daemon's memory over 1,000 cycles.
Every measured operation runs in a fresh subprocess so that its wall time and peak memory are
its own, not the emulator's; requests are counted from the emulator's request log. What is
measured is the real code: the commands through ``reconciler.cli.main`` or the console script,
never a copy of their steps.

Modules: ``fixtures`` (the files and the seeded emulator), ``served`` (seeded emulators each
in a process of its own, their request logs read over a pipe), ``worker`` (the jobs, run in a
subprocess), ``launch`` (spawns and times a whole command), ``two_gets`` (the minimal script),
``phases`` (clocks around the functions a real command calls), ``runner`` (launch a job, count
its requests), ``scenarios`` (what is measured and the targets), ``table`` (text and Markdown
output).
"""
