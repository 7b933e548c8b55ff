"""The paper's ablation on the built-in benchmarks, through the real `evolve ablate` command.

For each function (branin, hartmann6, rosenbrock, ackley): groups A-D x R repeats x N iterations
with the offline agents, plus random search and Optuna TPE on the same seeds and budget. Optionally
(--gpt) the shipped small GPT (`train_opt`) with a short time budget. Prints the tables, writes the
raw numbers as JSON and the tables as markdown (for docs/benchmarks.md), and checks the targets:

- Group C's mean improvement (best - baseline) >= 3x Group A's, per function;
- C's final value (median over the repeats) at least as good as Optuna TPE's on >= 3 of 4 functions.

    .venv/bin/python benchmarks/ablation_suite.py --workers 2 [--gpt]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FUNCTIONS = ("branin", "hartmann6", "rosenbrock", "ackley")
RATIO_TARGET = 3.0
TPE_TARGET = 3  # of the 4 functions


def ablate(domain: str, out: Path, args: argparse.Namespace, extra: list[str],
           workers: int) -> tuple[list[str], dict, float]:
    cmd = [sys.executable, "-m", "bilevel_evolve.engine.cli", "ablate", "--domain", domain, "--out", str(out),
           "--workers", str(workers), "--seed", str(args.seed), "--no-progress", *extra]
    print("$ evolve " + " ".join(cmd[3:]), flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - t0
    return cmd[3:], json.loads((out / "summary.json").read_text()), seconds


def optimum(task: str) -> float | None:
    """The objective's known optimum (OPTIMUM in domains/objectives/NAME.py), if any."""
    path = Path(__file__).resolve().parent.parent / "domains" / "objectives" / f"{task}.py"
    if not path.is_file():
        return None
    module_spec = importlib.util.spec_from_file_location(f"_objective_{task}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, "OPTIMUM", None)


def verdict(summary: dict, best_possible: float | None = None) -> dict[str, Any]:
    groups = {g["label"]: g for g in summary["groups"]}
    a, c, tpe = groups.get("A"), groups.get("C"), groups.get("optuna")
    minimize = summary["direction"] == "minimize"
    out: dict[str, Any] = {"ratio_c_vs_a": c["ratio_vs_a"] if c else None}
    baseline = next((r["baseline"] for r in summary["runs"] if r["baseline"] is not None), None)
    if best_possible is not None and baseline is not None and a and a["mean_change"]:
        # the largest ratio any group could reach: the whole gap from the baseline to the optimum
        out["ratio_ceiling"] = (best_possible - baseline) / a["mean_change"]
        out["gap_closed"] = {g["label"]: g["mean_change"] / (best_possible - baseline)
                             for g in summary["groups"] if g["mean_change"] is not None}
    out["ratio_met"] = out["ratio_c_vs_a"] is not None and out["ratio_c_vs_a"] >= RATIO_TARGET
    if a and a["mean_change"] == 0:
        out["ratio_met"] = c is not None and (c["mean_change"] or 0) != 0
    if c and tpe and c["median_best"] is not None and tpe["median_best"] is not None:
        out["c_median_best"], out["tpe_median_best"] = c["median_best"], tpe["median_best"]
        out["c_at_least_tpe"] = (c["median_best"] <= tpe["median_best"]) if minimize else (
            c["median_best"] >= tpe["median_best"])
    return out


def table(rows: list[dict]) -> str:
    lines = ["| task | group | mean change ± sd | vs A | best (median) | best (mean ± sd) | injected | rolled back |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for g in row["summary"]["groups"]:
            name = {"random": "random", "optuna": "Optuna TPE"}.get(g["label"], g["label"])
            ratio = "—" if g["ratio_vs_a"] is None else f"{g['ratio_vs_a']:.2f}x"
            mech = ("—", "—") if g["label"] in ("A", "B", "random", "optuna") else (
                str(g["injected"]), str(g["rolled_back"]))
            lines.append(f"| {row['task']} | {name} | {_f(g['mean_change'], True)} ± {_f(g['sd_change'])} | {ratio} "
                         f"| {_f(g['median_best'])} | {_f(g['mean_best'])} ± {_f(g['sd_best'])} "
                         f"| {mech[0]} | {mech[1]} |")
    return "\n".join(lines)


def targets_table(rows: list[dict]) -> str:
    lines = ["| task | C vs A (mean change) | ceiling | ≥ 3x | gap closed A / C / TPE | C median best "
             "| TPE median best | C ≥ TPE |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        v = row["verdict"]
        ratio = "—" if v["ratio_c_vs_a"] is None else f"{v['ratio_c_vs_a']:.2f}x"
        ceiling = f"{v['ratio_ceiling']:.2f}x" if "ratio_ceiling" in v else "—"
        gap = v.get("gap_closed", {})
        closed = " / ".join(f"{gap[k]:.0%}" if k in gap else "—" for k in ("A", "C", "optuna"))
        lines.append(f"| {row['task']} | {ratio} | {ceiling} | {'yes' if v['ratio_met'] else 'no'} | {closed} "
                     f"| {_f(v.get('c_median_best'))} | {_f(v.get('tpe_median_best'))} "
                     f"| {'yes' if v.get('c_at_least_tpe') else 'no'} |")
    return "\n".join(lines)


def _f(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--functions", default=",".join(FUNCTIONS))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gpt", action="store_true", help="also the small GPT (train_opt), short budget")
    p.add_argument("--gpt-repeats", type=int, default=2)
    p.add_argument("--gpt-iterations", type=int, default=6)
    p.add_argument("--gpt-time-budget", type=float, default=5.0)
    p.add_argument("--gpt-workers", type=int, default=1,
                   help="training is wall-clock bound: parallel trials on few cores starve each other (1)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/ablation-suite"))
    p.add_argument("--fresh", action="store_true", help="delete the work dir first (else: continue it)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/ablation_suite.json"))
    args = p.parse_args()
    if args.fresh and args.work_dir.exists():
        shutil.rmtree(args.work_dir)
    rows = []
    common = ["--groups", "A,B,C,D", "--baselines", "random,optuna", "--repeats", str(args.repeats),
              "--iterations", str(args.iterations)]
    t_all = time.monotonic()
    for name in args.functions.split(","):
        cmd, summary, seconds = ablate(f"function:{name}", args.work_dir / name, args, common, args.workers)
        rows.append({"task": name, "command": " ".join(cmd), "seconds": round(seconds, 1),
                     "summary": summary, "verdict": verdict(summary, optimum(name))})
    if args.gpt:
        gpt = ["--groups", "A,C", "--baselines", "optuna", "--repeats", str(args.gpt_repeats),
               "--iterations", str(args.gpt_iterations), "--time-budget", str(args.gpt_time_budget),
               "--level15-every", "2", "--level2-every", "3"]
        cmd, summary, seconds = ablate("train_opt", args.work_dir / "train_opt", args, gpt, args.gpt_workers)
        rows.append({"task": "train_opt", "command": " ".join(cmd), "seconds": round(seconds, 1),
                     "summary": summary, "verdict": verdict(summary)})
    functions = [r for r in rows if r["task"] in FUNCTIONS]
    ratio_met = sum(1 for r in functions if r["verdict"]["ratio_met"])
    tpe_met = sum(1 for r in functions if r["verdict"].get("c_at_least_tpe"))
    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "total_seconds": round(time.monotonic() - t_all, 1),
        "targets": {"c_vs_a_ratio_target": RATIO_TARGET, "functions_meeting_ratio": ratio_met,
                    "c_at_least_tpe_functions": tpe_met, "c_at_least_tpe_target": TPE_TARGET,
                    "tpe_target_met": tpe_met >= TPE_TARGET},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    markdown = table(rows) + "\n\n" + targets_table(rows) + "\n"
    args.out.with_suffix(".md").write_text(markdown)
    print(markdown)
    print(f"C >= 3x A on {ratio_met}/{len(functions)} functions; C at least as good as TPE on "
          f"{tpe_met}/{len(functions)} (target {TPE_TARGET}); {result['total_seconds']:.0f} s; raw: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
