"""The model sees the task: the brief, the failures' reasons, and the user's own notes reach its prompts,
through the real openai client against the loopback server, in whole `evolve run`s."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from autoresearch_standin import copy_standin
from fake_openai import FakeOpenAI, Reply

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.store import RunStore


@pytest.fixture
def cli(fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`evolve run` with the llm agent against the fake server; returns main's exit code."""
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    monkeypatch.chdir(tmp_path)

    def run(train: Path, run_dir: Path, *extra: str, iterations: int = 2) -> int:
        return main(["run", "--domain", f"train_opt:{train}", "--iterations", str(iterations), "--no-progress",
                     "--agent", "llm", "--provider", "fake", "--base-url", fake.base_url, "--api-key-env", "FAKE_KEY",
                     "--model", "fake-model", "--run-dir", str(run_dir), *extra])

    return run


def user_prompts(fake: FakeOpenAI) -> list[str]:
    return [r["messages"][-1]["content"] for r in fake.requests]


def incumbent_batch(prompt: str) -> int:
    found = re.search(r"TOTAL_BATCH_SIZE=(\d+)", prompt.split("## Incumbent")[1].split("##")[0])
    assert found is not None
    return int(found.group(1))


def needs_the_brief(request: dict[str, Any]) -> Reply:
    """A model stand-in that knows one thing only from the brief: at a fixed wall-clock budget a smaller
    batch buys more optimizer steps. Told nothing, it reaches for the learning rate (which only hurts)."""
    prompt = request["messages"][-1]["content"]
    if "fixed wall-clock budget" in prompt:
        batch = max(2**16, incumbent_batch(prompt) // 2)
        return Reply.json({"params": {"TOTAL_BATCH_SIZE": batch, "DEVICE_BATCH_SIZE": 32},
                           "rationale": "fixed time budget: a smaller batch takes more steps"})
    return Reply.json({"params": {"MATRIX_LR": 0.08 if "MATRIX_LR=0.08" not in prompt else 0.02}})


def best_and_baseline(run_dir: Path) -> tuple[float, float]:
    trials = [e for e in RunStore.open(run_dir).events() if e.kind == "trial"]
    values = [t.value for t in trials if t.value is not None]
    return min(values), trials[0].value


def test_the_train_opt_prompt_carries_the_constants_comments_the_metric_and_the_budget(
        fake: FakeOpenAI, cli: Any, tmp_path: Path) -> None:
    fake.responder = needs_the_brief
    assert cli(copy_standin(tmp_path / "ar", fixed=True), tmp_path / "run", iterations=1) == 0
    user = fake.requests[0]["messages"][-1]
    assert "Goal: minimize the metric (val_bpb)" in user["content"]
    assert "DEVICE_BATCH_SIZE = 128  # per-device batch size (reduce if OOM)" in user["content"]
    assert "WINDOW_PATTERN = \"SSSL\" # sliding window pattern: L=full, S=half context" in user["content"]
    assert "`val_bpb: X`" in user["content"] and "lower is better" in user["content"]
    assert "every trial trains for 300 seconds (TIME_BUDGET = 300 s, set in prepare.py)" in user["content"]
    assert "VRAM is a soft constraint" in user["content"]  # program.md, beside the script
    assert (tmp_path / "run" / "brief.json").is_file()  # what the model was told, frozen with the run


def test_a_model_that_needs_the_brief_finds_the_better_batch_size_with_it_and_not_without(
        fake: FakeOpenAI, cli: Any, tmp_path: Path) -> None:
    fake.responder = needs_the_brief
    train = copy_standin(tmp_path / "ar", fixed=True)
    assert cli(train, tmp_path / "with", iterations=2) == 0
    assert cli(train, tmp_path / "without", "--brief-mode", "off", iterations=2) == 0
    best, baseline = best_and_baseline(tmp_path / "with")
    assert best < baseline - 0.05
    best, baseline = best_and_baseline(tmp_path / "without")
    assert best == baseline  # the learning rate was already right: nothing it tried helped


def test_a_crashed_trials_reason_appears_in_the_next_prompt(fake: FakeOpenAI, cli: Any, tmp_path: Path) -> None:
    def failures(prompt: str) -> str:
        return prompt.split("## Why trials failed")[1].split("\n## ")[0]

    def deepen_first(request: dict[str, Any]) -> Reply:
        ran_out = "CUDA out of memory" in failures(request["messages"][-1]["content"])
        return Reply.json({"params": {"DEPTH": 4 if ran_out else 16}})

    fake.responder = deepen_first
    assert cli(copy_standin(tmp_path / "ar", fixed=True), tmp_path / "run", iterations=2) == 0
    first, second = (failures(p) for p in user_prompts(fake))
    assert first.strip() == "(no failed trial)"
    assert "<<<DATA failure reasons" in second  # trial output, fenced as data
    assert "crashed (iteration 1): RuntimeError: CUDA out of memory. Tried to allocate 12.00 GiB" in second
    trial = next(e for e in RunStore.open(tmp_path / "run").events() if e.kind == "trial" and e.step == 1)
    assert trial.status == "crashed" and "CUDA out of memory" in trial.reason  # and in the trace


def test_the_users_brief_extends_the_domains_or_replaces_it(fake: FakeOpenAI, cli: Any, tmp_path: Path) -> None:
    fake.responder = needs_the_brief
    train = copy_standin(tmp_path / "ar", fixed=True)
    notes = tmp_path / "notes.md"
    notes.write_text("Our cluster preempts jobs after 4 minutes; keep DEPTH at 8.")
    assert cli(train, tmp_path / "extend", "--brief", str(notes), iterations=1) == 0
    assert cli(train, tmp_path / "replace", "--brief", str(notes), "--brief-mode", "replace", iterations=1) == 0
    extended, replaced = user_prompts(fake)
    for prompt in (extended, replaced):
        assert "From the user (--brief)" in prompt and "preempts jobs after 4 minutes" in prompt
    assert "per-device batch size (reduce if OOM)" in extended
    assert "per-device batch size (reduce if OOM)" not in replaced


@pytest.mark.parametrize(("content", "says"), [
    (None, "does not exist"), (b"  \n", "is empty"), (b"PK\x03\x04\x00\x00binary", "is binary"),
    (b"caf\xe9 latin-1", "is not UTF-8"),
])
def test_a_bad_brief_file_is_refused_before_the_run_starts(
        fake: FakeOpenAI, cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        content: bytes | None, says: str) -> None:
    brief = tmp_path / "brief.md"
    if content is not None:
        brief.write_bytes(content)
    assert cli(copy_standin(tmp_path / "ar", fixed=True), tmp_path / "run", "--brief", str(brief)) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not fake.requests


def test_a_huge_brief_file_is_cut_and_the_prompt_says_so(fake: FakeOpenAI, cli: Any, tmp_path: Path) -> None:
    fake.responder = needs_the_brief
    brief = tmp_path / "brief.md"
    brief.write_text("Notes on the task.\n" + "Detail of the data pipeline.\n" * 20_000)
    assert cli(copy_standin(tmp_path / "ar", fixed=True), tmp_path / "run", "--brief", str(brief),
               iterations=1) == 0
    prompt = user_prompts(fake)[0]
    assert f"[the brief file is {brief.stat().st_size} bytes; only its first 65536 are used]" in prompt
    assert "left out: the prompt's token budget" in prompt
