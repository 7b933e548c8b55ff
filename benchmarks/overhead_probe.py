"""One measurement of the engine's overhead per iteration, for engine_overhead_vs_rev.py.

The same probe runs against this checkout and against an earlier revision (imported from the
PYTHONPATH the caller sets: the bilevel_evolve namespace, or the top-level packages that revisions
before it had), so both are measured by identical code. It runs the real inner loop (offline agent,
function:branin, trace and checkpoint every step, fsync at most once a second) and prints one JSON
line: wall and CPU (user + system of this process) milliseconds per iteration, the objective's own
time subtracted from each. CPU time is what the engine's code costs; it is far less sensitive than
wall time to other work on a shared machine (disk waits and preemption are not in it).

    python benchmarks/overhead_probe.py --iterations 1000 --run-dir DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

try:
    from bilevel_evolve.domains.registry import load_domain
    from bilevel_evolve.engine.agents.offline import OfflineAgent
    from bilevel_evolve.engine.run.logging_setup import close_logging, configure_logging
    from bilevel_evolve.engine.run.loop import InnerLoop
    from bilevel_evolve.engine.run.store import RunStore
    from bilevel_evolve.engine.wiring.run_config import RunConfig
except ImportError:  # a revision before the namespace (af6ab60 and older)
    from engine.config import RunConfig  # type: ignore[no-redef]
    from engine.logging_setup import close_logging, configure_logging  # type: ignore[no-redef]
    from engine.loop import InnerLoop  # type: ignore[no-redef]
    from engine.run_store import RunStore  # type: ignore[no-redef]

    from domains.registry import load_domain  # type: ignore[no-redef]
    from engine.agents.offline import OfflineAgent  # type: ignore[no-redef]


class TimedDomain:
    """Wraps a domain and accumulates the wall and CPU time spent inside run_trial."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.space, self.direction = inner.name, inner.space, inner.direction
        self.wall_s = self.cpu_s = 0.0

    def run_trial(self, params: Any, trial_dir: Any, seed: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self.inner.run_trial(params, trial_dir, seed)
        finally:
            self.wall_s += time.perf_counter() - wall
            self.cpu_s += time.process_time() - cpu

    def describe(self) -> dict:
        return dict(self.inner.describe())


def measure(iterations: int, run_dir: Path) -> dict[str, float]:
    config = RunConfig(run_id="bench", domain="function:branin", iterations=iterations, seed=0)
    domain = TimedDomain(load_domain(config.domain))
    store = RunStore(run_dir, durable_every_s=1.0)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.model_dump_json())
    configure_logging(run_dir / "log.jsonl")
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        loop = InnerLoop(store, config, domain, OfflineAgent())
        loop.start()
        loop.run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        store.close()
        close_logging()
    steps = config.total_steps
    return {"steps": steps, "wall_ms_per_iter": 1000 * (wall - domain.wall_s) / steps,
            "cpu_ms_per_iter": 1000 * (cpu - domain.cpu_s) / steps}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--run-dir", type=Path, required=True, help="a folder that does not exist yet")
    args = ap.parse_args()
    measure(min(200, args.iterations), args.run_dir.with_name(args.run_dir.name + "-warm"))  # imports, caches
    print(json.dumps(measure(args.iterations, args.run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
