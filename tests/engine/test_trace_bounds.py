"""Issue 15, items 2 and 4 (the trace side): whatever text or structure a mechanism or a model hands the
engine, the event made of it serializes, its trace line is bounded, it reads back as written, and
`evolve resume` and `evolve report` read the trace as a stream."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from interrupted_run import interrupted_run

from bilevel_evolve.engine.analysis.trace_numbers import summarize
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.events import (
    MAX_LINE_BYTES,
    TEXT_CHARS,
    Event,
    HintsGiven,
    HookCalled,
    MechanismRolledBack,
    TrialFinished,
    parse_event,
)
from bilevel_evolve.engine.run.store import Checkpoint, RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.records import Hints, TrialRecord

HOSTILE = "ok\ud800 \x1b[31mred\x1b]8;;http://x\x07link\x1b]8;;\x07 \u202e [/bold] $\\frac{1}{$ <script>"


def _deep(depth: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(depth):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


HOSTILE_RESULTS = {
    "surrogates and escapes": {"note": HOSTILE},
    "a 4 MB string": {"reject": "x" * 4_000_000},
    "50,000 deep": _deep(50_000),
    "100,000 values": list(range(100_000)),
    "10,000 long escaped keys": {"\x1b" * 300 + str(i): "\x1b" * 300 for i in range(10_000)},
    "huge integers": [10 ** 300] * 10_000,
}


def _line(event: Event) -> bytes:
    return event.model_dump_json().encode()


@pytest.mark.parametrize("result", HOSTILE_RESULTS.values(), ids=HOSTILE_RESULTS.keys())
def test_a_hook_answer_of_any_shape_makes_a_bounded_event_that_reads_back_as_written(result: Any) -> None:
    event = HookCalled(step=3, iteration=3, mechanism=HOSTILE, hook="review", args={"proposal": {"x": 1.0}},
                       result=result)
    line = _line(event)
    assert len(line) <= MAX_LINE_BYTES
    assert b"\x1b" not in line and "\u202e".encode() not in line
    again = parse_event(line)
    assert again == event and _line(again) == line


def test_texts_of_an_event_are_cleaned_and_each_is_capped() -> None:
    rollback = MechanismRolledBack(step=1, iteration=1, mechanism="m", name=HOSTILE, status="rolled-back",
                                   reason="hook observe raised: " + "y" * 4_000_000, active=())
    assert len(rollback.reason) <= TEXT_CHARS and rollback.reason.endswith("more characters cut]")
    assert rollback.name.startswith("ok\ufffd \\x1b[31mred") and "\\u202e" in rollback.name
    trial = TrialFinished(step=2, iteration=2, params={"x": 1.0}, status="failed", value=None, duration_s=0.1,
                          source="mechanism:" + HOSTILE, message=HOSTILE * 10_000, reason=HOSTILE)
    assert len(_line(trial)) < 4 * TEXT_CHARS  # the 4 MB reason of the issue added 8 MB per iteration


def test_notes_of_guide_hooks_become_hints_that_serialize() -> None:
    hints = Hints(focus=("x",), notes=(f"hostile: {HOSTILE}",))
    event = HintsGiven(step=13, iteration=13, hints=hints)
    assert parse_event(_line(event)) == event
    assert "\ud800" not in event.hints.notes[0] and "\ufffd" in event.hints.notes[0]


def test_records_clean_their_texts_too() -> None:
    record = TrialRecord(iteration=1, params={"x": 1.0}, status="ok", value=1.0, accepted=True,
                         source="mechanism:" + HOSTILE)
    record.model_dump_json()
    assert "\x1b" not in record.source


def test_a_checkpoint_with_a_hostile_mechanism_name_saves_and_keeps_its_states_whole(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", RunConfig(run_id="r", domain="function:branin", iterations=5))
    state = json.dumps({"design": [[0.5] * 6] * 5000})  # a mechanism's state: kept to the byte
    checkpoint = Checkpoint(steps_done=1, trace_lines=0, extra={
        "mechanisms": [{"id": "m", "name": HOSTILE, "hooks": ["guide"], "injected_step": 0, "stats": {}}],
        "mechanism_states": {"m": state}})
    store.save_checkpoint(checkpoint, force_durable=True)
    loaded = store.load_checkpoint()
    assert loaded is not None and loaded.extra["mechanism_states"]["m"] == state
    assert loaded.extra["mechanisms"][0]["name"].startswith("ok\ufffd \\x1b")
    store.close()


def _interrupted_run(tmp_path: Path, steps: int = 4) -> Path:
    return interrupted_run(tmp_path, steps=steps, iterations=8)


def test_resume_and_report_read_the_trace_as_a_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = _interrupted_run(tmp_path)

    def whole_trace(self: RunStore, limit: int | None = None) -> list[Event]:
        raise AssertionError("the whole trace was loaded")

    monkeypatch.setattr(RunStore, "events", whole_trace)
    assert main(["resume", str(run_dir), "--no-progress"]) == 0  # resumes, then reports
    assert main(["report", str(run_dir)]) == 0
    monkeypatch.undo()
    assert RunStore.open(run_dir).load_checkpoint().status == "completed"  # type: ignore[union-attr]


def test_reading_a_long_trace_back_takes_memory_for_one_line_at_a_time(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run", RunConfig(run_id="r", domain="function:branin", iterations=5))
    for step in range(300):  # each line at its cap: about 20 MB of trace
        store.append(HookCalled(step=step, iteration=step, mechanism="m", hook="guide",
                                result={"note": [f"{step}-{i}-" + "n" * 7_990 for i in range(8)]}))
    store.close()
    size = (tmp_path / "run" / "trace.jsonl").stat().st_size
    assert size > 15_000_000
    tracemalloc.start()
    try:
        kept, tail = RunStore.open(tmp_path / "run").rewind_trace(300)
        assert tail == [] and sum(1 for _ in kept) == 300
        summarize(RunStore.open(tmp_path / "run").iter_events(), "minimize")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 5
