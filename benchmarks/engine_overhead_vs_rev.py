"""Engine overhead per iteration, this checkout against an earlier revision, in one run.

The earlier revision is exported (`git archive`) into a temporary folder; this checkout's
benchmarks/overhead_probe.py measures both (PYTHONPATH points at the exported tree for the old one;
revisions before the bilevel_evolve namespace import their top-level packages from it), alternating,
one probe each per round, so both see the same machine load and are measured by the same code.
Reported: CPU milliseconds per iteration (user + system of the engine's process, the objective's own
time excluded: what the engine's code costs, little moved by other work on the machine) and wall
milliseconds per iteration (also disk waits and preemption), medians over the rounds, and the ratios.

    python benchmarks/engine_overhead_vs_rev.py [--rev af6ab60] [--rounds 9] [--iterations 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "benchmarks" / "overhead_probe.py"
MEASURES = {"cpu_ms_per_iter": "CPU ms / iteration", "wall_ms_per_iter": "wall ms / iteration"}


def export(rev: str, dest: Path) -> None:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def one_probe(python: str, iterations: int, run_dir: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([python, str(PROBE), "--iterations", str(iterations), "--run-dir", str(run_dir)],
                          cwd=run_dir.parent, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="af6ab60", help="the earlier revision (default: the last before the namespace)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--new-python", default=sys.executable,
                    help="interpreter with the new code installed (default: this one, i.e. this checkout)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engine_overhead_vs_rev.json")
    args = ap.parse_args()
    this = "this checkout"
    samples: dict[str, list[dict[str, float]]] = {this: [], args.rev: []}
    with tempfile.TemporaryDirectory(prefix="overhead-vs-") as tmp:
        old = Path(tmp) / "old"
        export(args.rev, old)
        old_env = {**os.environ, "PYTHONPATH": str(old)}
        new_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        for n in range(args.rounds):
            order = [(this, args.new_python, new_env), (args.rev, sys.executable, old_env)]
            for name, python, env in order if n % 2 == 0 else order[::-1]:
                run_dir = Path(tmp) / f"run-{len(samples[name])}-{name.replace(' ', '-')}"
                samples[name].append(one_probe(python, args.iterations, run_dir, env))
                print(f"round {n + 1}/{args.rounds} {name}: {samples[name][-1]}", file=sys.stderr)
    table = Table(title=f"engine overhead, function:branin, {args.iterations} iterations, {args.rounds} rounds")
    table.add_column("code")
    for label in MEASURES.values():
        table.add_column(f"{label} (median)")
        table.add_column(f"vs {args.rev}")
    summary: dict[str, dict] = {}
    for name, per in samples.items():
        row, summary[name] = [name], {}
        for key in MEASURES:
            values = [p[key] for p in per]
            med, base = statistics.median(values), statistics.median(p[key] for p in samples[args.rev])
            summary[name][key] = {"median": med, "min": min(values), "max": max(values), "samples": values,
                                  "ratio": med / base}
            row += [f"{med:.3f} ({min(values):.3f}-{max(values):.3f})", f"{med / base:.2f}x"]
        table.add_row(*row)
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(["python", "benchmarks/engine_overhead_vs_rev.py",
                                                          *sys.argv[1:]]),
                                    "rev": args.rev, "iterations": args.iterations, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
