"""Engine overhead per iteration, this checkout against an earlier revision, in one run.

The earlier revision is exported (`git archive`) into a temporary folder and its own
benchmarks/engine_overhead.py runs from there (PYTHONPATH points at that tree; revisions before the
bilevel_evolve namespace import their top-level packages from it), alternating with this checkout's,
one repeat each per round, so both see the same machine load. Reported: the default setting's
overhead in ms per iteration (objective time excluded), median over the rounds, and the ratio.

    python benchmarks/engine_overhead_vs_rev.py [--rev af6ab60] [--rounds 5] [--iterations 1000] [--out FILE]
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
SETTING = "default (fsync <= 1/s)"


def export(rev: str, dest: Path) -> None:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def one_repeat(python: str, tree: Path, iterations: int, out: Path, env: dict[str, str]) -> float:
    subprocess.run([python, str(tree / "benchmarks" / "engine_overhead.py"), "--iterations", str(iterations),
                    "--repeats", "1", "--out", str(out)], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    written = json.loads(out.read_text())
    summary = written.get("summary") or written["results"]  # the key was "results" before
    return float(summary[SETTING]["median_ms"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="af6ab60", help="the earlier revision (default: the last before the namespace)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--new-python", default=sys.executable,
                    help="interpreter with the new code installed (default: this one, i.e. this checkout)")
    ap.add_argument("--new-tree", type=Path, default=ROOT, help="the tree of --new-python's install (this checkout)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engine_overhead_vs_rev.json")
    args = ap.parse_args()
    samples: dict[str, list[float]] = {"this checkout": [], args.rev: []}
    with tempfile.TemporaryDirectory(prefix="overhead-vs-") as tmp:
        old = Path(tmp) / "old"
        export(args.rev, old)
        old_env = {**os.environ, "PYTHONPATH": str(old)}
        new_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        for n in range(args.rounds):
            order = [("this checkout", args.new_python, args.new_tree, new_env),
                     (args.rev, sys.executable, old, old_env)]
            for name, python, tree, env in order if n % 2 == 0 else order[::-1]:
                samples[name].append(one_repeat(python, tree, args.iterations, Path(tmp) / "r.json", env))
    table = Table(title=f"engine overhead, function:branin, {args.iterations} iterations, {args.rounds} rounds")
    for col in ("code", "ms / iteration (median)", "min", "max", "vs " + args.rev):
        table.add_column(col)
    base = statistics.median(samples[args.rev])
    summary = {}
    for name, per in samples.items():
        med = statistics.median(per)
        summary[name] = {"median_ms": med, "min_ms": min(per), "max_ms": max(per), "samples": per}
        table.add_row(name, f"{med:.3f}", f"{min(per):.3f}", f"{max(per):.3f}", f"{med / base:.2f}x")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(["python", "benchmarks/engine_overhead_vs_rev.py",
                                                          *sys.argv[1:]]),
                                    "rev": args.rev, "iterations": args.iterations, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
