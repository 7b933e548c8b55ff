"""`evolve ablate`: the paper's group ablation (A-D) plus baselines, resumable as a whole.

spec.py      what an ablation is (groups, repeats, seeds, run options) and its run plan
store.py     the ablation directory: ablation.json, per-run state (fresh / partial / done)
executor.py  runs the plan as `evolve run` / `evolve resume` subprocesses, W at a time
baselines.py random search and Optuna TPE as ordinary proposers (`--agent random|optuna`)
aggregate.py numbers per run and per group, read from the runs' traces
plots.py     best-so-far bands per group, and all groups together
report.py    report.md: the paper-style table, baselines, lineage per repeat
"""
