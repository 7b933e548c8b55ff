"""Trials in flight within one run: `evolve run --workers W` and `--executor ray`, side by side.

1. Throughput on waiting-bound trials: a `command` domain whose program sleeps SLEEP seconds, run
   with --workers 1, --workers 2 and --executor ray --workers 2 (a local Ray cluster, 2 slots).
   Throughput = trials / the loop's wall-clock (first to last event of the trace: Ray's start-up is
   left out, its per-trial cost is not). The three runs must take the same decisions as their twins
   (W=2 local and W=2 Ray: identical; W=1 is another schedule, so it is only counted).
2. Ray's scheduling overhead per trial: a function domain (no sleep, microseconds per trial) with one
   worker, inline and as Ray tasks; overhead = the difference in loop time per trial.
3. Search quality at equal wall-clock on a slow objective: hartmann6 slowed to SLOW seconds a trial,
   Optuna TPE, best value found within T seconds of the loop's start, W=2 vs W=1, median of 5 seeds.

    .venv/bin/python benchmarks/parallel_workers.py --out benchmarks/results/parallel_workers.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bilevel_evolve.engine.run.runner import start_run
from bilevel_evolve.engine.wiring.run_config import RunConfig

SLEEPER = '{"command": ["sh", "-c", "sleep %s; echo score: $EVOLVE_PARAM_X"], "param_style": "env", ' \
          '"metric_regex": "score: ([0-9.eE+-]+)", "space": {"x": {"type": "float", "low": 0, "high": 1, ' \
          '"default": 0.5}}}'
SLOW_HARTMANN = '''
import time
from bilevel_evolve.domains.function import load_builtin

_H6 = load_builtin("hartmann6")
SPACE = {name: spec for name, spec in _H6.space.to_dict().items()}
DIRECTION = "minimize"


def objective(params):
    time.sleep(%s)
    return _H6.objective(params)
'''


def run(root: Path, name: str, **config: Any) -> list[dict[str, Any]]:
    run_dir = root / name
    start_run(RunConfig(run_id=name, **config), run_dir, progress=False)
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


def loop_seconds(events: list[dict[str, Any]]) -> float:
    return float(events[-1]["t"] - events[0]["t"])


def decisions(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    accepted = {e["step"]: e["accepted"] for e in events if e["kind"] == "decision"}
    return [(e["step"], e["params"], e["value"], accepted[e["step"]]) for e in events if e["kind"] == "trial"]


def throughput(root: Path, sleep_s: float, iterations: int) -> dict[str, Any]:
    spec = root / "sleeper.json"
    spec.write_text(SLEEPER % sleep_s)
    common = {"domain": f"command:{spec}", "iterations": iterations, "seed": 1, "agent": "random"}
    rows: dict[str, Any] = {}
    for label, extra in (("local, 1 worker", {"workers": 1}), ("local, 2 workers", {"workers": 2}),
                         ("ray, 2 workers", {"workers": 2, "executor": "ray", "ray_address": "local"})):
        events = run(root, label.replace(", ", "-").replace(" ", ""), **common, **extra)
        trials = sum(1 for e in events if e["kind"] == "trial")
        seconds = loop_seconds(events)
        rows[label] = {"trials": trials, "loop_s": round(seconds, 3), "trials_per_s": round(trials / seconds, 3),
                       "decisions": decisions(events)}
    base = rows["local, 1 worker"]["trials_per_s"]
    for row in rows.values():
        row["speedup"] = round(row["trials_per_s"] / base, 3)
    twins_agree = rows["local, 2 workers"].pop("decisions") == rows["ray, 2 workers"].pop("decisions")
    rows["local, 1 worker"].pop("decisions")
    return {"sleep_s": sleep_s, "rows": rows, "ray_twin_same_decisions": twins_agree}


def ray_overhead(root: Path, iterations: int) -> dict[str, Any]:
    common = {"domain": "function:branin", "iterations": iterations, "seed": 2, "agent": "random"}
    inline = run(root, "overhead-inline", **common)
    on_ray = run(root, "overhead-ray", **common, executor="ray", ray_address="local")
    trials = sum(1 for e in inline if e["kind"] == "trial")
    per_trial = {name: loop_seconds(events) / trials * 1000 for name, events in (("inline", inline), ("ray", on_ray))}
    return {"trials": trials, "inline_ms_per_trial": round(per_trial["inline"], 2),
            "ray_ms_per_trial": round(per_trial["ray"], 2),
            "ray_overhead_ms_per_trial": round(per_trial["ray"] - per_trial["inline"], 2)}


def quality(root: Path, slow_s: float, budget_s: float, seeds: int) -> dict[str, Any]:
    objective = root / "slow_hartmann6.py"
    objective.write_text(SLOW_HARTMANN % slow_s)
    iterations = int(budget_s / slow_s * 2.5)  # enough for two workers to run past the budget
    found: dict[int, list[float]] = {1: [], 2: []}
    for seed in range(1, seeds + 1):
        for workers in (1, 2):
            events = run(root, f"quality-w{workers}-s{seed}", domain=f"function:{objective}",
                         iterations=iterations if workers == 2 else iterations // 2, seed=seed, agent="optuna",
                         workers=workers)
            start = events[0]["t"]
            values = [e["value"] for e in events if e["kind"] == "trial" and e["value"] is not None
                      and e["t"] - start <= budget_s]
            found[workers].append(min(values))
    return {"slow_s": slow_s, "budget_s": budget_s, "seeds": seeds, "agent": "optuna",
            "best_w1": found[1], "best_w2": found[2],
            "median_best_w1": statistics.median(found[1]), "median_best_w2": statistics.median(found[2])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sleep", type=float, default=0.5, help="seconds per waiting-bound trial (0.5)")
    parser.add_argument("--iterations", type=int, default=15, help="iterations of each throughput run (15)")
    parser.add_argument("--overhead-iterations", type=int, default=60)
    parser.add_argument("--slow", type=float, default=0.2, help="seconds per trial of the slow objective (0.2)")
    parser.add_argument("--budget", type=float, default=4.0, help="the wall-clock budget T in seconds (4)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parallel-workers-") as tmp:
        root = Path(tmp)
        result = {"machine": {"python": platform.python_version(), "platform": platform.platform()},
                  "throughput": throughput(root, args.sleep, args.iterations),
                  "ray_overhead": ray_overhead(root, args.overhead_iterations),
                  "quality": quality(root, args.slow, args.budget, args.seeds)}
    show(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def show(result: dict[str, Any]) -> None:
    console = Console()
    t = result["throughput"]
    table = Table(title=f"waiting-bound trials ({t['sleep_s']} s sleep each)")
    for column in ("run", "trials", "loop (s)", "trials/s", "speed-up vs 1 worker"):
        table.add_column(column)
    for label, row in t["rows"].items():
        table.add_row(label, str(row["trials"]), f"{row['loop_s']:.2f}", f"{row['trials_per_s']:.2f}",
                      f"{row['speedup']:.2f}x")
    console.print(table)
    console.print(f"ray twin takes the same decisions as local 2 workers: {t['ray_twin_same_decisions']}")
    o = result["ray_overhead"]
    console.print(f"Ray scheduling overhead: {o['ray_overhead_ms_per_trial']:.1f} ms per trial "
                  f"({o['ray_ms_per_trial']:.1f} vs {o['inline_ms_per_trial']:.1f} ms inline, {o['trials']} trials)")
    q = result["quality"]
    console.print(f"best hartmann6 value within {q['budget_s']:g} s ({q['slow_s']:g} s a trial, {q['agent']}, "
                  f"median of {q['seeds']} seeds): 1 worker {q['median_best_w1']:.4f}, "
                  f"2 workers {q['median_best_w2']:.4f}")


if __name__ == "__main__":
    sys.exit(main())
