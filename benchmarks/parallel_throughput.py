"""Throughput of `evolve ablate --workers W` on trials dominated by waiting.

A `command` domain whose program sleeps SLEEP seconds per trial; the same ablation (groups A and B,
R repeats, N iterations) runs once with W=1 and once with W=2, side by side in this one script.
Throughput = trials / wall-clock seconds, measured two ways: the whole `evolve ablate` command
(start-up and report included) and the runs phase alone (first run_started to last run_finished
event, from the traces). The two ablations must also find exactly the same trials.

    .venv/bin/python benchmarks/parallel_throughput.py --out benchmarks/results/parallel_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.8
PROGRAM = """
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--n", type=int)
a = p.parse_args()
time.sleep({sleep})
print("score:", (a.x - 0.3) ** 2 + 0.01 * a.n)
"""


def write_domain(folder: Path, sleep: float) -> Path:
    (folder / "sleepy.py").write_text(PROGRAM.format(sleep=sleep))
    spec = {"command": ["python", "sleepy.py"], "metric_regex": r"score: ([0-9.eE+-]+)", "timeout_s": 30,
            "space": {"x": {"type": "float", "low": -1.0, "high": 1.0, "default": 0.9},
                      "n": {"type": "int", "low": 1, "high": 10, "default": 5}}}
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def run_ablation(spec: Path, out: Path, workers: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "bilevel_evolve.engine.cli", "ablate", "--domain", f"command:{spec}",
           "--groups", "A,B",
           "--repeats", str(args.repeats), "--iterations", str(args.iterations), "--baselines", "random",
           "--workers", str(workers), "--out", str(out), "--no-progress"]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    starts, ends, trials, sequences = [], [], 0, {}
    for run_dir in sorted((out / "runs").iterdir()):
        events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
        starts.append(next(e["t"] for e in events if e["kind"] == "run_started"))
        ends.append(next(e["t"] for e in events if e["kind"] == "run_finished"))
        found = [(e["step"], e["params"], e["value"]) for e in events if e["kind"] == "trial"]
        trials += len(found)
        sequences[run_dir.name] = found
    runs_phase = max(ends) - min(starts)
    return {"workers": workers, "runs": len(sequences), "trials": trials, "wall_s": round(wall, 2),
            "runs_phase_s": round(runs_phase, 2), "trials_per_s": round(trials / wall, 3),
            "trials_per_s_runs_phase": round(trials / runs_phase, 3), "command": " ".join(cmd[3:]),
            "_sequences": sequences}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sleep", type=float, default=0.5, help="seconds each trial sleeps (0.5)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--iterations", type=int, default=9)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/parallel_throughput.json"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="evolve-throughput-") as tmp:
        folder = Path(tmp)
        spec = write_domain(folder, args.sleep)
        rows = [run_ablation(spec, folder / f"w{w}", w, args) for w in (1, 2)]
    identical = rows[0].pop("_sequences") == rows[1].pop("_sequences")
    speedup = rows[1]["trials_per_s"] / rows[0]["trials_per_s"]
    speedup_runs = rows[1]["trials_per_s_runs_phase"] / rows[0]["trials_per_s_runs_phase"]
    result = {"sleep_s": args.sleep, "rows": rows, "speedup_whole_command": round(speedup, 3),
              "speedup_runs_phase": round(speedup_runs, 3), "target": TARGET, "identical_results": identical,
              "target_met": speedup >= TARGET, "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
              "python": platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| workers | runs | trials | wall (s) | trials/s | runs phase (s) | trials/s (runs phase) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['runs']} | {r['trials']} | {r['wall_s']:.1f} | {r['trials_per_s']:.2f} "
              f"| {r['runs_phase_s']:.1f} | {r['trials_per_s_runs_phase']:.2f} |")
    print(f"\nspeed-up W=2 vs W=1: {speedup:.2f}x whole command, {speedup_runs:.2f}x runs phase "
          f"(target {TARGET}x); identical results: {identical}; raw: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
