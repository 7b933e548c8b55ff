"""The invariant (issue 15, item 3): whatever a mechanism answers, a checkpointed run finishes, resumes and
reports, and only the mechanism that answered badly is blamed.

Many seeded runs drive hook replies at random through the real decoding (`sandbox/hosts/replies.py`)
with a scripted host, each interrupted at a random step, resumed and reported; a few drive the same
kind of bytes through real containers (a mechanism that writes them on its own reply channel after the
smoke test) and use `evolve resume` and `evolve report` themselves.
"""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.reports.run_report import report_run
from bilevel_evolve.engine.run.events import MechanismRolledBack, RunFinished
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import TRACE_FILE, RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.interface import HOOKS, STATE_HOOKS
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts import replies
from bilevel_evolve.sandbox.hosts.base import Loaded

from .garbage import reply_line
from .live_support import TURN, VICTIM, live_run, turning

RUNS = 16
ITERATIONS = 14
FUZZED = tuple(f"fuzzed-{i}" for i in range(5))
PLACEHOLDER = MechanismSource(b"class M:\n    pass\nMECHANISM = M\n")  # the scripted host never runs it
MAX_TRACE_LINE = 256 * 1024


class ScriptedHost:
    """A MechanismHost whose workers' reply lines are drawn at random (seeded) for the fuzzed mechanisms and
    are always fine for the victim; every line goes through the decoding the real hosts use."""

    kind = "scripted"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.turns = {mech: self.rng.randint(1, ITERATIONS) for mech in FUZZED}

    def load(self, mech_id: str, source: MechanismSource, state_json: str | None) -> Loaded:
        return Loaded(mech_id, mech_id, HOOKS + STATE_HOOKS)

    def _line(self, mech_id: str, iteration: int) -> bytes:
        if mech_id in self.turns and iteration >= self.turns[mech_id] and self.rng.random() < 0.5:
            return reply_line(self.rng)
        return b'{"ok": true}'

    def call(self, mech_id: str, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any]) -> Any:
        reply = replies.worker_reply(mech_id, hook, self._line(mech_id, int(ctx["iteration"])))
        return replies.hook_value(mech_id, hook, reply)

    def state_json(self, mech_id: str) -> str:
        fuzzed = mech_id in self.turns and self.rng.random() < 0.2
        line = reply_line(self.rng) if fuzzed else b'{"ok": true, "value_json": "{}"}'
        return replies.state_text(mech_id, replies.worker_reply(mech_id, "state_dict", line))

    def unload(self, mech_id: str) -> None:
        pass

    def close(self) -> None:
        pass


class Interrupted(Exception):
    pass


def _loop(store: RunStore, config: RunConfig, seed: int) -> InnerLoop:
    return InnerLoop(store, config, load_domain(config.domain), OfflineAgent(), mechanism_host=ScriptedHost(seed),
                     mechanism_source=lambda _: PLACEHOLDER)


@pytest.mark.parametrize("seed", range(RUNS))
def test_a_run_whose_mechanisms_answer_anything_finishes_resumes_and_reports(tmp_path: Path, seed: int) -> None:
    config = RunConfig(run_id=f"fuzz-{seed}", domain="function:branin", iterations=ITERATIONS, seed=seed)
    run_dir = tmp_path / "run"
    stop_after = random.Random(seed).randint(2, config.total_steps - 1)
    store = RunStore.create(run_dir, config)
    try:
        loop = _loop(store, config, seed)
        assert loop.mechanisms is not None
        for mech_id in ("victim", *FUZZED):
            loop.mechanisms.add(mech_id, PLACEHOLDER, step=0)

        def crash(done: int, *_: Any) -> None:
            if done >= stop_after:
                raise Interrupted

        loop.on_step = crash
        loop.start()
        with contextlib.suppress(Interrupted):
            loop.run()
    finally:
        store.close()

    store = RunStore.open(run_dir)
    try:
        loop = _loop(store, config, seed + 1000)
        loop.resume()
        outcome = loop.run()
    finally:
        store.close()
    assert outcome.status == "completed" and outcome.steps == config.total_steps

    report_run(run_dir, Console(file=io.StringIO(), width=160))
    store = RunStore.open(run_dir)
    try:
        events = list(store.iter_events())
    finally:
        store.close()
    assert isinstance(events[-1], RunFinished)
    blamed = {e.mechanism for e in events if isinstance(e, MechanismRolledBack)}
    assert "victim" not in blamed and blamed <= set(FUZZED)
    for line in (run_dir / TRACE_FILE).read_bytes().splitlines():
        assert len(line) < MAX_TRACE_LINE
        line.decode("utf-8")  # strict


def _writer(seed: int) -> MechanismSource:
    """After the turn, writes seeded reply lines (2 KiB at most: the source is capped) onto its own
    reply channel, one per call, ahead of the worker's real reply."""
    rng = random.Random(seed)
    lines = []
    while len(lines) < 6:
        line = reply_line(rng)
        if len(line) < 2048:
            lines.append(line + b"\n")
    return turning("writer", f"""
lines = {lines!r}
fd = int(sys.argv[sys.argv.index("--res-fd") + 1])
os.write(fd, lines[self.report.setdefault("calls", 0) % len(lines)])
self.report["calls"] += 1
return None
""")


@pytest.mark.docker
@pytest.mark.parametrize("seed", range(3))
def test_bytes_a_live_mechanism_writes_on_its_channel_never_stop_a_real_run(tmp_path: Path, seed: int) -> None:
    run = live_run(tmp_path, {"victim": VICTIM, "writer": _writer(seed)}, iterations=TURN + 4,
                   stop_after_step=1 + TURN + 1)
    run.resume_and_report()
    assert run.finished() is not None
    assert set(run.rolled_back()) <= {"writer"}
    assert "victim" in run.active_at_end() and run.final_states()["victim"] == {"seen": TURN + 4}
