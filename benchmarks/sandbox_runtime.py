"""What gVisor's runsc costs next to Docker's default runtime (runc), for the sandbox's two uses.

1. Smoke test: `run_smoke_test` end to end (container created, started, 12 hook iterations, verdict,
   removed) for a pure-Python mechanism (the tabu fixture) and one that imports numpy and torch (the
   Latin-hypercube fixture), `--repeats` times each, the runtimes interleaved.
2. Live mechanism: a `ContainerHost` loading one mechanism (its container's start, until the worker
   answers), then `--calls` hook round trips with a ctx of 30 trials: a no-op `guide` and the tabu
   recipe's `review` of a proposal.

    python benchmarks/sandbox_runtime.py [--repeats 5] [--calls 300] [--out benchmarks/results/sandbox_runtime.json]

runsc must be registered with the engine (docs/SANDBOX.md says how); without it only runc is measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.engine.outer.research.recipes import CATALOG, recipe_source
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.sandbox.box import run_smoke_test
from bilevel_evolve.sandbox.container_spec import BoxLimits
from bilevel_evolve.sandbox.hosts.container import HOST_LIMITS, ContainerHost
from bilevel_evolve.sandbox.image import connect
from bilevel_evolve.sandbox.runtime import GVISOR, registered_runtimes

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "sandbox" / "mechanisms"
SMOKE = {"pure Python (tabu)": "tabu_search.py", "numpy + torch (latin hypercube)": "latin_hypercube.py"}
NOOP = MechanismSource(b"class Noop:\n    name = 'noop'\n\n    def guide(self, ctx):\n        return None\n\n"
                       b"MECHANISM = Noop\n")
HISTORY = 30


def _ctx() -> tuple[dict[str, Any], dict[str, Any]]:
    domain = load_domain("function:hartmann6")
    rng = random.Random(0)
    trials = [TrialRecord(iteration=i, params=domain.space.sample(rng), status="ok", value=rng.uniform(-3, 0),
                          accepted=rng.random() < 0.3, source="agent", duration_s=0.001).model_dump()
              for i in range(HISTORY)]
    head = SearchContext(space=domain.space, direction=domain.direction, iteration=HISTORY, history=(),
                         incumbent=None, config=SearchConfig()).to_json()
    return {**head, "history": trials, "incumbent": trials[-1]}, {"proposal": dict(trials[-1]["params"])}


def _summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"n": len(times), "p50": statistics.median(times), "p95": times[max(0, int(0.95 * len(times)) - 1)],
            "mean": statistics.fmean(times)}


def smoke_tests(runtimes: list[str | None], repeats: int) -> dict[str, dict[str, Any]]:
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for label, fixture in SMOKE.items():
            source = MechanismSource((FIXTURES / fixture).read_bytes())
            for runtime in runtimes:
                started = time.perf_counter()
                report = run_smoke_test(source, limits=BoxLimits(runtime=runtime), gpu_wanted=False)
                assert report.ok, report.to_text()
                samples.setdefault((label, runtime or "runc"), []).append(time.perf_counter() - started)
    return {f"{label} / {runtime}": {"mechanism": label, "runtime": runtime, **_summary(times)}
            for (label, runtime), times in samples.items()}


def live_host(runtime: str | None, calls: int) -> dict[str, Any]:
    ctx, review_args = _ctx()
    tabu = MechanismSource(recipe_source(next(r for r in CATALOG if r.name == "tabu")))
    host = ContainerHost(f"bench-{runtime or 'runc'}", limits=HOST_LIMITS.model_copy(update={"runtime": runtime}))
    out: dict[str, Any] = {"runtime": runtime or "runc"}
    try:
        started = time.perf_counter()
        host.load("noop", NOOP, None)
        out["load_s"] = time.perf_counter() - started
        host.load("tabu", tabu, None)
        for mech, hook, args in (("noop", "guide", {}), ("tabu", "review", review_args)):
            times = []
            for i in range(calls + 20):
                started = time.perf_counter()
                host.call(mech, hook, ctx, i, args)
                if i >= 20:  # warm-up
                    times.append((time.perf_counter() - started) * 1000)
            out[f"{mech}.{hook}_ms"] = _summary(times)
    finally:
        host.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/sandbox_runtime.json"))
    args = ap.parse_args()
    client = connect()
    runtimes: list[str | None] = [None, GVISOR] if GVISOR in registered_runtimes(client) else [None]
    info = client.info()
    smoke = smoke_tests(runtimes, args.repeats)
    hosts = [live_host(runtime, args.calls) for runtime in runtimes]
    result = {
        "machine": {"python": platform.python_version(), "kernel": info.get("KernelVersion"),
                    "docker": info.get("ServerVersion"), "cpus": info.get("NCPU"),
                    "runtimes": registered_runtimes(client)},
        "smoke_test_s": smoke,
        "live_host": hosts,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console = Console()
    table = Table(title="smoke test, wall seconds")
    for column in ("mechanism", "runtime", "n", "p50", "p95"):
        table.add_column(column)
    for row in smoke.values():
        table.add_row(row["mechanism"], row["runtime"], str(row["n"]), f"{row['p50']:.2f}", f"{row['p95']:.2f}")
    console.print(table)
    live = Table(title=f"live mechanism: container start, hook round trip (ms) with {HISTORY} trials")
    for column in ("runtime", "load s", "noop guide p50", "p95", "tabu review p50", "p95"):
        live.add_column(column)
    for row in hosts:
        noop, tabu = row["noop.guide_ms"], row["tabu.review_ms"]
        live.add_row(row["runtime"], f"{row['load_s']:.2f}", f"{noop['p50']:.2f}", f"{noop['p95']:.2f}",
                     f"{tabu['p50']:.2f}", f"{tabu['p95']:.2f}")
    console.print(live)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
