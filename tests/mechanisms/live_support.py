"""Real runs with live mechanisms that behave for the smoke test's 12 iterations and turn at iteration 13.

The mechanisms go straight into an archive, unvetted (the gate is off: the container is tested on its
own), and the run is wired exactly as `evolve run` wires it (`prepare`, `build_loop`), its host a
real `ContainerHost`. A run can be interrupted after a step, as a crash would, and then continued and
reported with the real commands (`evolve resume`, `evolve report`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sample_mechanisms import counting_mechanism

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.outer.decisions import Decisions, Inject
from bilevel_evolve.engine.outer.view import LoopView
from bilevel_evolve.engine.run.events import Event, MechanismInjected, MechanismRolledBack, RunFinished
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.assembly import build_loop, prepare
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.mechanism_archive.archive import Archive

TURN = 13  # the first iteration after the smoke test's synthetic trace of 12

VICTIM = counting_mechanism("Victim", "victim")


def turning(name: str, attack: str, *, hook: str = "observe",
            imports: str = "import os, signal, sys, time") -> MechanismSource:
    """A mechanism whose `hook` behaves (returns None) until iteration TURN, then runs `attack` (the body of
    a function of (self, ctx) whose value the hook returns) on every call. `self.report` is its state."""
    params = {"observe": "trial, ctx", "guide": "ctx", "review": "proposal, ctx", "propose": "ctx"}[hook]
    body = "\n".join("        " + line for line in attack.strip().splitlines())
    return MechanismSource.from_text(f"""{imports}


class Turning:
    name = {name!r}

    def __init__(self):
        self.report = {{}}

    def {hook}(self, {params}):
        if ctx.iteration < {TURN}:
            return None
        return self.attack(ctx)

    def attack(self, ctx):
{body}

    def state_dict(self):
        return {{"report": self.report}}

    def load_state_dict(self, state):
        self.report = dict(state["report"])


MECHANISM = Turning
""")


class LateInjector(OuterController):
    """Injects archived mechanisms at given iterations, as Level 2 would."""

    name = "late-injector"

    def __init__(self, at: Mapping[int, tuple[str, MechanismSource]]) -> None:
        self.at = dict(at)

    def before_step(self, view: LoopView) -> Decisions:
        if view.iteration in self.at:
            mech_id, source = self.at.pop(view.iteration)
            return [Inject(mech_id, mech_id[:12], source)]
        return ()


class Interrupted(Exception):
    """Raised after a given step, where a crash would stop the engine."""


@dataclass
class LiveRun:
    run_dir: Path
    ids: dict[str, str]  # mechanism name -> archive id

    def events(self) -> list[Event]:
        store = RunStore.open(self.run_dir)
        try:
            return list(store.iter_events())
        finally:
            store.close()

    def rolled_back(self) -> dict[str, tuple[int, str]]:
        """Mechanism name -> (iteration, reason) of each rollback in the trace."""
        names = {mech_id: name for name, mech_id in self.ids.items()}
        return {names[e.mechanism]: (e.iteration, e.reason) for e in self.events()
                if isinstance(e, MechanismRolledBack)}

    def injected(self) -> list[str]:
        names = {mech_id: name for name, mech_id in self.ids.items()}
        return [names[e.mechanism] for e in self.events() if isinstance(e, MechanismInjected)]

    def finished(self) -> RunFinished | None:
        return next((e for e in self.events() if isinstance(e, RunFinished)), None)

    def checkpoint(self) -> Any:
        store = RunStore.open(self.run_dir)
        try:
            checkpoint = store.load_checkpoint()
        finally:
            store.close()
        assert checkpoint is not None
        return checkpoint

    def final_states(self) -> dict[str, Any]:
        """Mechanism name -> its decoded state in the last checkpoint, for those still active."""
        names = {mech_id: name for name, mech_id in self.ids.items()}
        return {names[m]: json.loads(s) for m, s in self.checkpoint().extra.get("mechanism_states", {}).items()}

    def active_at_end(self) -> list[str]:
        names = {mech_id: name for name, mech_id in self.ids.items()}
        return [names[m["id"]] for m in self.checkpoint().extra.get("mechanisms", [])]

    def resume_and_report(self) -> None:
        """`evolve resume` then `evolve report`, both as a user runs them: each must succeed."""
        assert main(["resume", str(self.run_dir), "--no-progress"]) == 0
        assert main(["report", str(self.run_dir)]) == 0

    def trace_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.run_dir.glob("trace*.jsonl"))


def live_run(tmp_path: Path, mechanisms: Mapping[str, MechanismSource], *, iterations: int = 18,
             late: Mapping[int, tuple[str, MechanismSource]] | None = None, stop_after_step: int | None = None,
             domain: str = "function:branin", **config: Any) -> LiveRun:
    """A run of `domain` (function:branin) with `mechanisms` live from its start and `late` ones injected at
    their iterations; interrupted after `stop_after_step` when given (the trace and checkpoint stay as a crash
    leaves them)."""
    archive_dir = tmp_path / "archive"
    ids: dict[str, str] = {}
    with Archive.open(archive_dir, create=True) as archive:
        for name, source in {**mechanisms, **{n: s for n, s in (late or {}).values()}}.items():
            ids[name] = archive.add(source, name=name, class_name=name, origin="user", run_id="setup",
                                    status="accepted").id
    run_config = RunConfig(run_id="live", domain=domain, iterations=iterations, seed=5,
                           archive=str(archive_dir), mechanisms=tuple(ids[name] for name in mechanisms), **config)
    run_dir = tmp_path / "run"
    parts = prepare(run_config, run_dir)
    try:
        store = RunStore.create(run_dir, run_config)
        try:
            loop = build_loop(run_config, run_dir, store, parts)
            if late:
                loop.outer.append(LateInjector({at: (ids[name], source) for at, (name, source) in late.items()}))

            def stop(done: int, *_: Any) -> None:
                if stop_after_step is not None and done >= stop_after_step:
                    raise Interrupted

            loop.on_step = stop
            loop.start()
            with contextlib.suppress(Interrupted):
                loop.run()
        finally:
            store.close()
    finally:
        parts.close()
    return LiveRun(run_dir, ids)
