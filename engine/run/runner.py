"""Start or resume a run: validate everything first, then create the run directory and loop."""

from __future__ import annotations

import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import structlog

from bilevel_evolve.engine.run.executors import TrialExecutor
from bilevel_evolve.engine.run.logging_setup import close_logging, configure_logging
from bilevel_evolve.engine.run.loop import InnerLoop, LoopOutcome
from bilevel_evolve.engine.run.placement import build_executor
from bilevel_evolve.engine.run.progress import RunProgress
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.archive_run import enter_archive
from bilevel_evolve.engine.wiring.assembly import Parts, build_loop, prepare, vet_user_mechanisms
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import RunDirError

LOG_FILE = "log.jsonl"


def default_run_id(domain: str, seed: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(domain.split(":", 1)[-1]).stem or domain).strip("-")
    return f"{slug[:40] or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}-s{seed}"


def start_run(config: RunConfig, run_dir: Path, *, progress: bool = True,
              user_mechanisms: Sequence[Path] = ()) -> LoopOutcome:
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"run directory {run_dir} already exists and is not empty",
                          f"continue it with `evolve resume {run_dir}`, or pick a new --run-dir")
    # bad input, a missing key or engine, a rejected user mechanism: all fail here, nothing written
    parts = prepare(config, run_dir, user_mechanisms=len(user_mechanisms))
    try:
        executor = _trial_executor(config, parts)
        config = enter_archive(config, parts, run_dir)  # the id the run writes under, before it writes there
        if user_mechanisms:
            config = vet_user_mechanisms(config, parts, list(user_mechanisms))
        store = RunStore.create(run_dir, config)
        print(f"run directory: {run_dir}", file=sys.stderr)
        with _run_logging(run_dir):
            loop = build_loop(config, run_dir, store, parts)
            loop.run_trials_on(executor)
            loop.start()
            return _drive(loop, store, progress)
    finally:
        parts.close()


def resume_run(run_dir: Path, *, progress: bool = True, config: RunConfig | None = None) -> LoopOutcome:
    """Go on with a run. `config`: the run's config with raised limits (engine.run.extension.plan_resume),
    recorded in config.json once everything is prepared, just before the loop resumes."""
    store = RunStore.open(run_dir)
    stored = store.config()
    config = stored if config is None else config
    checkpoint = store.load_checkpoint()
    if checkpoint is not None and checkpoint.status != "running" and checkpoint.steps_done >= config.total_steps:
        raise RunDirError(f"run {run_dir} already ended ({checkpoint.status}, {checkpoint.steps_done} steps)",
                          f"see its results with `evolve report {run_dir}`; extend it with "
                          f"`evolve resume {run_dir} --iterations N`")
    parts = prepare(config, run_dir)
    try:
        executor = _trial_executor(config, parts)
        if config != stored:
            store.replace_config(config)  # the extension is recorded; the loop traces it as it starts
        with _run_logging(run_dir):
            loop = build_loop(config, run_dir, store, parts)
            loop.run_trials_on(executor)
            loop.resume()
            return _drive(loop, store, progress)
    finally:
        parts.close()


def _trial_executor(config: RunConfig, parts: Parts) -> TrialExecutor:
    """Where the trials run (GPUs assigned, a Ray cluster reached): before anything is written."""
    executor = build_executor(config, parts.domain)
    parts.closers.append(executor.close)
    if config.workers > 1 or config.executor != "local" or config.gpus is not None or config.gpus_per_trial is not None:
        print(executor.summary, file=sys.stderr)
    return executor


def _drive(loop: InnerLoop, store: RunStore, progress: bool) -> LoopOutcome:
    with _terminate_as_interrupt(), RunProgress(loop.config.total_steps, loop.state.steps_done,
                                                label=loop.config.run_id, enabled=progress) as bar:
        loop.on_step = bar.update
        try:
            return loop.run()
        finally:
            loop.scheduler.close()
            store.close()


@contextmanager
def _run_logging(run_dir: Path) -> Iterator[None]:
    configure_logging(run_dir / LOG_FILE)
    try:
        yield
    finally:
        structlog.get_logger("engine").info("session_end")
        close_logging()


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C: the checkpoint on disk is always consistent, so just stop."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
