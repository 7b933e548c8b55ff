"""The small-budget BBOB protocol of LLaMEA-BO, for groups A-D, random search, Optuna TPE and CMA-ES.

BBOB f2, f4, f6, f8, f12, f14, f15, f18, f21, f23 in dimension 5, instance 1 (the built-in domain
`function:bbob:FID:5:1`, search box [-5, 5]^5, first evaluation at the origin), a budget of 100
evaluations, seeds 1..N (N >= 5 for the protocol). Methods:

- A, B, C, D: `evolve run` with the offline agent and the groups' levels (A = 1, B = 1,1.5, C = 1,1.5,2,
  D = 1,2, as in `evolve ablate`); the budget is the baseline trial + (budget - 1) iterations. The C and
  D runs of one function share one mechanism archive, and each reads it with horizon 0 (as it stood before
  any of them): the seeds are independent runs, none learns from another's effects or recalls another's
  best points (a shared archive without a common horizon would let seed k start from seeds 1..k-1).
- random, optuna: `evolve run --agent random|optuna --levels 1` (engine/agents/baselines.py).
- cma: CMA-ES (the `cma` package, defaults but sigma0 = 2, a fifth of the box width, and the box as
  bounds) called directly on the ioh problem, not through the engine: the origin first, as every engine
  run's baseline trial, then ask/tell until the budget is spent (a last generation that would overrun
  it is cut short and never told).

Seed k is run seed repeat_seed(--seed, k), the derivation `evolve ablate` uses, shared by every method.

Numbers, per run, from the best-so-far regret r_t = min_{i <= t} f(x_i) - f(x*) after each evaluation
t = 1..B (f(x*) = ioh's `problem.optimum.y`; the domain reports raw f(x)):

- final regret: r_B; the table shows its median over the seeds.
- AOCC, the area over the convergence curve of log10 regret: with r_t clipped to [1e-8, 1e2] and
  u_t = (log10 r_t + 8) / 10 in [0, 1], AOCC = 1 - (1/B) * sum_{t=1..B} u_t. 1 means regret <= 1e-8
  from the first evaluation, 0 means regret >= 1e2 throughout. The table shows its mean over the seeds.
  A run that evaluated fewer than B points (rejected proposals) keeps its last r_t for the rest.

Every run lives under --work-dir/b{budget}-seed{seed}/f{FID}/{method}-s{k} (CMA-ES: a .json file); a finished
one is reused, an interrupted one resumed, so repeating the command continues a long protocol.
Writes benchmarks/results/bbob_protocol.json (+ .md) and docs/img/bbob_protocol.png.

    .venv/bin/python benchmarks/bbob_protocol.py --seeds 5 --workers 2
    .venv/bin/python benchmarks/bbob_protocol.py --functions 2,21 --seeds 2 --methods A,C,optuna,cma
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.function.bbob import EXTRA_FIX, LOWER, UPPER, import_ioh
from bilevel_evolve.engine.ablation.aggregate import NOT_EVALUATED
from bilevel_evolve.engine.ablation.spec import GROUPS, repeat_seed
from bilevel_evolve.engine.ablation.store import clear_leftover, run_state
from bilevel_evolve.engine.analysis.trace_numbers import summarize
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.fileio import atomic_write_bytes

FUNCTIONS = (2, 4, 6, 8, 12, 14, 15, 18, 21, 23)
DIM, INSTANCE, BUDGET, MIN_SEEDS = 5, 1, 100, 5
METHODS = ("A", "B", "C", "D", "random", "optuna", "cma")
ENGINE_BASELINES = ("random", "optuna")
REGRET_LOW, REGRET_HIGH = 1e-8, 1e2
CMA_SIGMA0 = 2.0
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Job:
    fid: int
    method: str
    seed_index: int
    seed: int
    path: Path  # run directory (engine methods) or result file (cma)


def domain_spec(fid: int) -> str:
    return f"function:bbob:{fid}:{DIM}:{INSTANCE}"


def plan(args: argparse.Namespace) -> list[Job]:
    """Seed by seed, so that an interrupted protocol has whole rows of the table first."""
    base = args.work_dir / f"b{args.budget}-seed{args.seed}"
    jobs = []
    for k in range(1, args.seeds + 1):
        for fid in args.functions:
            for method in args.methods:
                # the name is also the run id, which must be unique among the runs sharing the archive
                name = f"{method}-s{k}.json" if method == "cma" else f"{method}-s{k}"
                jobs.append(Job(fid, method, k, repeat_seed(args.seed, k), base / f"f{fid}" / name))
    return jobs


# ---- running -------------------------------------------------------------------------------------
def engine_command(job: Job, budget: int) -> list[str]:
    base = [sys.executable, "-m", "bilevel_evolve.engine.cli"]
    if run_state(job.path) == "partial":
        return [*base, "resume", str(job.path), "--no-progress"]
    baseline = job.method in ENGINE_BASELINES
    levels = ("1",) if baseline else GROUPS[job.method]
    agent = job.method if baseline else "offline"
    archive = ["--archive", str(job.path.parent / "archive"), "--archive-horizon", "0"] if "2" in levels else []
    return [*base, "run", "--domain", domain_spec(job.fid), "--iterations", str(budget - 1),
            "--levels", ",".join(levels), "--agent", agent, "--seed", str(job.seed), "--run-dir", str(job.path),
            "--no-progress", *archive]


def run_engine(job: Job, budget: int) -> tuple[Job, int, float]:
    """One `evolve run` (or `evolve resume`) child; its console output goes to the run's .log."""
    clear_leftover(job.path)
    cmd = engine_command(job, budget)
    log = job.path.with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with log.open("ab") as fh:
        fh.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        fh.flush()
        code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              check=False).returncode
    return job, code, time.monotonic() - t0


def import_cma() -> Any:
    try:
        return importlib.import_module("cma")
    except ImportError:
        raise SystemExit("CMA-ES needs the cma package, which is not installed\n"
                         f"  fix: {EXTRA_FIX}, or leave cma out of --methods") from None


def run_cma(job: Job, budget: int) -> None:
    """CMA-ES on the ioh problem itself; writes the raw values it evaluated, in order."""
    cma = import_cma()
    ioh = import_ioh()
    problem = ioh.get_problem(job.fid, INSTANCE, DIM, ioh.ProblemClass.BBOB)
    origin = [0.0] * DIM
    values = [float(problem(origin))]
    es = cma.CMAEvolutionStrategy(origin, CMA_SIGMA0, {
        "bounds": [LOWER, UPPER], "seed": job.seed or 1,  # cma draws a time-based seed for 0
        "verbose": -9, "verb_disp": 0, "verb_log": 0})
    while len(values) < budget:
        points = es.ask()
        scored = [float(problem(list(x))) for x in points[:budget - len(values)]]
        values += scored
        if len(scored) == len(points):
            es.tell(points, scored)
    job.path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(job.path, json.dumps({"seed": job.seed, "sigma0": CMA_SIGMA0, "values": values}).encode())


def execute(jobs: list[Job], budget: int, workers: int) -> list[str]:
    """Run what is not finished yet; returns one line per failed run."""
    failures = []
    cma_todo = [j for j in jobs if j.method == "cma" and not j.path.is_file()]
    todo = [j for j in jobs if j.method != "cma" and run_state(j.path) != "done"]
    print(f"{len(jobs)} runs: {len(jobs) - len(todo) - len(cma_todo)} finished before; now {len(cma_todo)} "
          f"CMA-ES (in-process, seconds) and {len(todo)} engine runs, {workers} at a time", flush=True)
    for job in cma_todo:
        run_cma(job, budget)
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = [pool.submit(run_engine, job, budget) for job in todo]
        for done, future in enumerate(as_completed(futures), start=1):
            job, code, seconds = future.result()
            print(f"  [{done}/{len(todo)}] f{job.fid} {job.method} s{job.seed_index}: "
                  f"{'ok' if code == 0 else f'exit {code}'} in {seconds:.0f} s", flush=True)
            if code != 0:
                failures.append(f"f{job.fid} {job.method} s{job.seed_index} (exit {code}, log "
                                f"{job.path.with_suffix('.log')})")
    finally:  # Ctrl-C: the running children checkpoint and stop (they get the SIGINT too); start no more
        pool.shutdown(cancel_futures=True)
    return failures


# ---- numbers -------------------------------------------------------------------------------------
def evaluated_values(job: Job) -> list[float | None] | None:
    """The objective values in evaluation order (None for a failed trial), or None if unfinished."""
    if job.method == "cma":
        return json.loads(job.path.read_text())["values"] if job.path.is_file() else None
    if run_state(job.path) != "done":
        return None
    events = RunStore.open(job.path).events()
    trials = summarize(events, "minimize").trials
    return [t.value if t.status == "ok" else None for t in trials if t.status not in NOT_EVALUATED]


def regret_curve(values: list[float | None], optimum: float, budget: int) -> list[float]:
    """Best-so-far regret after each of `budget` evaluations (inf before any value; the last one
    repeated when the run evaluated fewer points)."""
    curve, best = [], math.inf
    for value in values[:budget]:
        if value is not None:
            best = min(best, value - optimum)
        curve.append(max(best, 0.0))
    return curve + [curve[-1] if curve else math.inf] * (budget - len(curve))


def aocc(curve: list[float]) -> float:
    """1 - mean over t of (log10 clip(r_t, 1e-8, 1e2) + 8) / 10: see the module docstring."""
    low, high = math.log10(REGRET_LOW), math.log10(REGRET_HIGH)
    normalized = [(math.log10(min(max(r, REGRET_LOW), REGRET_HIGH)) - low) / (high - low) for r in curve]
    return 1.0 - statistics.fmean(normalized)


def collect(jobs: list[Job], args: argparse.Namespace) -> dict[str, Any]:
    ioh = import_ioh()
    functions: dict[str, Any] = {}
    for fid in args.functions:
        problem = ioh.get_problem(fid, INSTANCE, DIM, ioh.ProblemClass.BBOB)
        optimum = float(problem.optimum.y)
        methods: dict[str, Any] = {}
        for method in args.methods:
            runs: list[dict[str, Any]] = []
            curves: list[list[float]] = []
            for job in (j for j in jobs if j.fid == fid and j.method == method):
                values = evaluated_values(job)
                if values is not None:
                    curve = regret_curve(values, optimum, args.budget)
                    curves.append(curve)
                    runs.append({"seed_index": job.seed_index, "seed": job.seed, "evaluations": len(values),
                                 "final_regret": curve[-1], "aocc": aocc(curve)})
            finals = [r["final_regret"] for r in runs]
            scores = [r["aocc"] for r in runs]
            methods[method] = {
                "runs": len(runs),
                "median_final_regret": statistics.median(finals) if finals else None,
                "aocc_mean": statistics.fmean(scores) if scores else None,
                "aocc_sd": statistics.stdev(scores) if len(scores) > 1 else None,
                "median_curve": [statistics.median(at_t) for at_t in zip(*curves, strict=True)],
                "per_run": runs,
            }
        functions[f"f{fid}"] = {"fid": fid, "name": problem.meta_data.name, "optimum": optimum, "methods": methods}
    return functions


def comparisons(functions: dict[str, Any], methods: list[str]) -> dict[str, Any]:
    """The issue's targets: C's median final regret at or below TPE's (7 of 10) and CMA-ES's (5 of 10)."""
    out: dict[str, Any] = {}
    for other, target in (("optuna", 7), ("cma", 5)):
        if "C" not in methods or other not in methods:
            continue
        pairs = [(f["methods"]["C"]["median_final_regret"], f["methods"][other]["median_final_regret"])
                 for f in functions.values()]
        pairs = [(c, o) for c, o in pairs if c is not None and o is not None]
        wins = sum(1 for c, o in pairs if c <= o)
        out[f"c_at_or_below_{other}"] = {"functions": wins, "of": len(pairs),
                                         "target": f"{target} of {len(FUNCTIONS)}"}
    return out


# ---- output --------------------------------------------------------------------------------------
def table(functions: dict[str, Any], methods: list[str]) -> str:
    head = "| function | " + " | ".join(_label(m) for m in methods) + " |"
    lines = ["median final regret / mean AOCC (higher is better) over the seeds", "",
             head, "|---|" + "---|" * len(methods)]
    for key, f in functions.items():
        cells = []
        for m in methods:
            s = f["methods"][m]
            cells.append("—" if not s["runs"] else f"{s['median_final_regret']:.3g} / {s['aocc_mean']:.3f}")
        lines.append(f"| {key} {f['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(functions: dict[str, Any], methods: list[str], path: Path, budget: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(5, len(functions))
    rows = math.ceil(len(functions) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False, sharex=True)
    for ax, (key, f) in zip(axes.flat, functions.items(), strict=False):
        for m in methods:
            curve = f["methods"][m]["median_curve"]
            if curve:
                ax.plot(range(1, len(curve) + 1), [max(r, REGRET_LOW) for r in curve], label=_label(m), linewidth=1.2)
        ax.axhline(REGRET_HIGH, color="grey", linestyle=":", linewidth=0.8)  # AOCC counts only below this
        ax.set_yscale("log")
        ax.set_title(f"{key} {f['name']}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(functions):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("evaluations")
    for ax in axes[:, 0]:
        ax.set_ylabel("median regret")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(f"BBOB {DIM}-D, instance {INSTANCE}, {budget} evaluations: median best-so-far regret\n"
                 f"(dotted: {REGRET_HIGH:g}, where AOCC starts counting)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _label(method: str) -> str:
    return {"random": "random", "optuna": "Optuna TPE", "cma": "CMA-ES"}.get(method, method)


def _int_list(text: str) -> list[int]:
    return [int(x.strip().removeprefix("f")) for x in text.split(",") if x.strip()]


def _methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown methods {unknown}; use some of {','.join(METHODS)}")
    return list(dict.fromkeys(names))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--functions", type=_int_list, default=list(FUNCTIONS), help="BBOB ids (default the ten)")
    p.add_argument("--seeds", type=int, default=MIN_SEEDS, help=f"seeds 1..N per method ({MIN_SEEDS})")
    p.add_argument("--methods", type=_methods, default=list(METHODS), help=",".join(METHODS))
    p.add_argument("--budget", type=int, default=BUDGET, help=f"evaluations per run ({BUDGET})")
    p.add_argument("--workers", type=int, default=2, help="engine runs at once (2)")
    p.add_argument("--seed", type=int, default=0, help="master seed (0)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/bbob-protocol"))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/bbob_protocol.json")
    p.add_argument("--plot", type=Path, default=ROOT / "docs/img/bbob_protocol.png")
    args = p.parse_args()
    if args.budget < 2 or args.seeds < 1:
        p.error("--budget must be at least 2 and --seeds at least 1")
    try:
        import_ioh()  # the clear "install the bbob extra" errors before anything starts
    except UsageError as exc:
        raise SystemExit(str(exc)) from None
    if "cma" in args.methods:
        import_cma()
    args.work_dir = args.work_dir.resolve()
    t0 = time.monotonic()
    jobs = plan(args)
    failures = execute(jobs, args.budget, args.workers)
    functions = collect(jobs, args)
    result: dict[str, Any] = {
        "protocol": {"functions": args.functions, "dimension": DIM, "instance": INSTANCE, "budget": args.budget,
                     "seeds": args.seeds, "master_seed": args.seed, "methods": args.methods,
                     "regret_bounds": [REGRET_LOW, REGRET_HIGH], "cma_sigma0": CMA_SIGMA0,
                     "protocol_complete": (sorted(args.functions) == sorted(FUNCTIONS) and args.seeds >= MIN_SEEDS
                                           and args.budget == BUDGET and set(args.methods) == set(METHODS))},
        "command": " ".join(["benchmarks/bbob_protocol.py", *sys.argv[1:]]),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "seconds": round(time.monotonic() - t0, 1),
        "comparisons": comparisons(functions, args.methods),
        "failed_runs": failures,
        "functions": functions,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    markdown = table(functions, args.methods)
    args.out.with_suffix(".md").write_text(markdown + "\n")
    plot(functions, args.methods, args.plot, args.budget)
    print(markdown)
    for name, c in result["comparisons"].items():
        print(f"{name}: {c['functions']} of {c['of']} functions (target {c['target']})")
    print(f"{result['seconds']:.0f} s; raw: {args.out}; plot: {args.plot}")
    for line in failures:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
