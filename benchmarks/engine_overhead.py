"""Engine overhead per iteration on the `function` domain, objective time excluded.

Runs the real inner loop (offline agent, run store with trace + checkpoint per step) and subtracts
the time spent inside the objective. The settings run side by side in one process, interleaved, so
the ratios are meaningful on a noisy machine:
  - default: trace and checkpoint written every step, fsync at most once a second;
  - fsync-every-step: fsync the trace and checkpoint on every step (power-loss safe per step);
  - with --mechanisms HOST: the default, plus two recipes active (tabu and bandit) on that mechanism
    host ("local" or "container"), once with the history sent incrementally (the default) and once
    in full on every hook call (the protocol before, and the fallback).

    python benchmarks/engine_overhead.py [--iterations 2000] [--repeats 3] [--mechanisms local] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.outer.research.recipes import CATALOG, recipe_source
from bilevel_evolve.engine.run.logging_setup import close_logging, configure_logging
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts.base import LocalProcessHost, MechanismHost
from bilevel_evolve.sandbox.hosts.container import ContainerHost

RECIPES = ("tabu", "bandit")


class TimedDomain:
    """Wraps a domain and accumulates the time spent inside run_trial."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name, self.space, self.direction = inner.name, inner.space, inner.direction  # type: ignore[attr-defined]
        self.trial_s = 0.0

    def run_trial(self, params, trial_dir, seed):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return self.inner.run_trial(params, trial_dir, seed)  # type: ignore[attr-defined]
        finally:
            self.trial_s += time.perf_counter() - t

    def describe(self) -> dict:
        return self.inner.describe()  # type: ignore[attr-defined]


def mechanism_host(kind: str, incremental_history: bool, work_dir: Path) -> MechanismHost:
    if kind == "container":
        return ContainerHost("bench-overhead", incremental_history=incremental_history)
    return LocalProcessHost(work_dir, incremental_history=incremental_history)


def measure(domain_spec: str, iterations: int, durable_every_s: float, root: Path,
            mechanisms: tuple[str, bool] | None = None) -> dict[str, float]:
    """One run; with `mechanisms` = (host kind, incremental history), the recipes active from the start
    (their loads, the container's start included, count as overhead)."""
    config = RunConfig(run_id="bench", domain=domain_spec, iterations=iterations, seed=0)
    domain = TimedDomain(load_domain(domain_spec))
    run_dir = root / f"run-{durable_every_s}-{time.perf_counter_ns()}"
    store = RunStore(run_dir, durable_every_s=durable_every_s)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.model_dump_json())
    configure_logging(run_dir / "log.jsonl")
    host = mechanism_host(mechanisms[0], mechanisms[1], run_dir / "mechanisms") if mechanisms else None
    t0 = time.perf_counter()
    try:
        loop = InnerLoop(store, config, domain, OfflineAgent(), mechanism_host=host)  # type: ignore[arg-type]
        if loop.mechanisms is not None:
            for name in RECIPES:
                loop.mechanisms.add(name, MechanismSource(recipe_source(next(r for r in CATALOG if r.name == name))),
                                    step=0)
        loop.start()
        loop.run()
        total = time.perf_counter() - t0
        if loop.mechanisms is not None and len(loop.mechanisms.ids()) != len(RECIPES):
            raise RuntimeError(f"a recipe was rolled back during the run: {loop.mechanisms.ids()} remain")
    finally:
        if host is not None:
            host.close()
        store.close()
        close_logging()
    steps = config.total_steps
    overhead = total - domain.trial_s
    return {"steps": steps, "total_s": total, "objective_s": domain.trial_s,
            "overhead_ms_per_iter": 1000 * overhead / steps, "iters_per_s_overhead_only": steps / overhead}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--domain", default="function:branin")
    ap.add_argument("--mechanisms", choices=("local", "container"),
                    help=f"also run with {' + '.join(RECIPES)} active on this host, history incremental and full")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/engine_overhead.json"))
    args = ap.parse_args()
    settings: dict[str, tuple[float, tuple[str, bool] | None]] = {
        "default (fsync <= 1/s)": (1.0, None), "fsync every step": (0.0, None)}
    if args.mechanisms:
        settings[f"{' + '.join(RECIPES)} ({args.mechanisms}), incremental history"] = (1.0, (args.mechanisms, True))
        settings[f"{' + '.join(RECIPES)} ({args.mechanisms}), full history"] = (1.0, (args.mechanisms, False))
    results: dict[str, list[dict[str, float]]] = {k: [] for k in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, so drift hits every setting alike
            for name, (every, mechanisms) in settings.items():
                results[name].append(measure(args.domain, args.iterations, every, Path(tmp), mechanisms))
    table = Table(title=f"engine overhead, {args.domain}, {args.iterations} iterations x {args.repeats}")
    for col in ("setting", "overhead ms/iter (median)", "min", "max", "iters/s (overhead only)", "vs default"):
        table.add_column(col)
    base = statistics.median(r["overhead_ms_per_iter"] for r in results["default (fsync <= 1/s)"])
    summary = {}
    for name, runs in results.items():
        per = [r["overhead_ms_per_iter"] for r in runs]
        med = statistics.median(per)
        summary[name] = {"median_ms": med, "min_ms": min(per), "max_ms": max(per), "runs": runs}
        table.add_row(name, f"{med:.3f}", f"{min(per):.3f}", f"{max(per):.3f}", f"{1000 / med:.0f}",
                      f"{med / base:.2f}x")
    Console(width=140).print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(["python", "benchmarks/engine_overhead.py", *sys.argv[1:]]),
                                    "domain": args.domain, "iterations": args.iterations,
                                    "python": sys.version.split()[0], "machine": platform.machine(),
                                    "results": summary}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
