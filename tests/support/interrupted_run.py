"""A function:branin run stopped mid-way with its checkpoint `running`, as a kill leaves it."""

from __future__ import annotations

from pathlib import Path

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig


def interrupted_run(tmp_path: Path, *, steps: int, iterations: int) -> Path:
    config = RunConfig(run_id="cut", domain="function:branin", iterations=iterations, seed=2)
    run_dir = tmp_path / "run"
    store = RunStore.create(run_dir, config)
    loop = InnerLoop(store, config, load_domain(config.domain), OfflineAgent())
    loop.start()
    for _ in range(steps):
        loop.advance()
    store.close()
    return run_dir
