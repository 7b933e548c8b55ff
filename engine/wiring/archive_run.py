"""A new run enters its mechanism archive before it writes anything: the id it goes by there, and how far
the archive went when it started (its horizon: what Level 2 may learn from earlier runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.mechanism_archive.effects import scope_of

if TYPE_CHECKING:
    from bilevel_evolve.engine.wiring.assembly import Parts
    from bilevel_evolve.engine.wiring.run_config import RunConfig


def enter_archive(config: RunConfig, parts: Parts, run_dir: Path) -> RunConfig:
    """The config the run starts with: its run id made unique in the archive (two ablations sharing one
    both have a C-r1; the second becomes C-r1-2 there and in its own trace), and its horizon set unless
    given (--archive-horizon, evolve ablate's one horizon for all its runs, or the recorded run's for a
    replay). A run without an archive,
    or one on a fresh archive under an unused id, starts with the config it was given. A run stopped
    before it wrote anything and started again in the same directory keeps the id it had."""
    if parts.archive is None:
        return config
    claim = parts.archive.claim_run(config.run_id, scope=scope_of(config.domain, parts.domain.space.to_dict()),
                                    token=str(run_dir.resolve()))
    if claim.run_id != config.run_id:
        print(f"run id {config.run_id} is taken in archive {parts.archive.root} by an earlier run; this run is "
              f"{claim.run_id} there and in its trace", file=sys.stderr)
    horizon = config.archive_horizon
    if horizon is None:
        horizon = _replayed_horizon(config)
    if horizon is None:
        horizon = claim.horizon
    if (claim.run_id, horizon) == (config.run_id, config.archive_horizon):
        return config
    return config.model_copy(update={"run_id": claim.run_id, "archive_horizon": horizon})


def _replayed_horizon(config: RunConfig) -> int | None:
    """A replay asks what the recorded run asked, and what that run read of the archive is part of it."""
    if not config.agent.startswith("replay:"):
        return None
    from bilevel_evolve.engine.run.store import RunStore

    try:
        return RunStore.open(Path(config.agent.split(":", 1)[1])).config().archive_horizon
    except EvolveError:
        return None  # the replay's own check says what is wrong with the recorded run
