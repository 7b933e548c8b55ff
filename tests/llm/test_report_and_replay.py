"""The report shows why trials failed, a fail-fast stop, and LLM tokens and cost split by level; a run's
brief is frozen with it, so a replay elsewhere asks byte for byte what the recorded run asked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from autoresearch_standin import copy_standin
from fake_openai import FakeOpenAI, Reply
from rich.console import Console

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.reports.run_report import report_run
from bilevel_evolve.engine.run.store import RunStore


def model(request: dict[str, Any]) -> Reply:
    if "supervise" in request["messages"][0]["content"]:
        return Reply.json({"diagnosis": "deep models run out of memory", "strategy": "exploit"},
                          prompt_tokens=300, completion_tokens=30)
    deep = "CUDA out of memory" not in request["messages"][-1]["content"].split("## Why trials failed")[1]
    return Reply.json({"params": {"DEPTH": 16 if deep else 6}})


@pytest.fixture
def llm_args(fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    fake.responder = model
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    monkeypatch.chdir(tmp_path)
    return ["--no-progress", "--agent", "llm", "--provider", "fake", "--base-url", fake.base_url,
            "--api-key-env", "FAKE_KEY", "--model", "fake-model"]


def report_text(run_dir: Path) -> str:
    console = Console(record=True, width=220)
    report_run(run_dir, console)
    return console.export_text()


def test_the_report_splits_llm_usage_by_level_and_says_why_trials_failed(llm_args: list[str], tmp_path: Path) -> None:
    train = copy_standin(tmp_path / "ar", fixed=True)
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", f"train_opt:{train}", "--iterations", "5", "--levels", "1,1.5",
                 "--level15-every", "2", "--run-dir", str(run_dir), *llm_args]) == 0
    text = report_text(run_dir)
    assert "LLM usage by level" in text
    rows = {cells[0]: cells[1:] for line in text.splitlines()
            if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 5}
    assert rows["Level 1 (proposer)"][:3] == ["5", "500", "100"]  # 5 calls of 100 + 20 tokens
    assert rows["Level 1.5 (search configuration)"][:3] == ["2", "600", "60"]  # 2 calls of 300 + 30
    assert rows["all"][:3] == ["7", "1100", "160"]
    assert "why trials failed" in text and "RuntimeError: CUDA out of memory" in text


def test_the_report_of_a_stopped_run_says_where_and_why(llm_args: list[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", f"train_opt:{copy_standin(tmp_path / 'ar')}", "--iterations", "2",
                 "--run-dir", str(run_dir), *llm_args]) == 1
    lines = report_text(run_dir).splitlines()
    status = next(line for line in lines if "│ status" in line)
    assert "stopped at step 0: ModuleNotFoundError: No module named 'kernels' (resumable after the fix)" in status
    assert any("│ fix" in line and "install the missing module 'kernels'" in line for line in lines)


def test_a_replay_on_another_path_asks_what_the_recorded_run_asked(llm_args: list[str], fake: FakeOpenAI,
                                                                   tmp_path: Path) -> None:
    train = copy_standin(tmp_path / "ar", fixed=True)
    live = tmp_path / "live"
    assert main(["run", "--domain", f"train_opt:{train}", "--iterations", "3", "--run-dir", str(live), *llm_args]) == 0
    fake.stop()
    elsewhere = tmp_path / "elsewhere"  # another machine, as far as the brief can tell: another path and notes
    shutil.copytree(train.parent, elsewhere)
    (elsewhere / "program.md").write_text("# different notes\n")
    replayed = tmp_path / "replayed"
    assert main(["run", "--domain", f"train_opt:{elsewhere / 'train.py'}", "--iterations", "3", "--no-progress",
                 "--agent", f"replay:{live}", "--run-dir", str(replayed)]) == 0
    assert (replayed / "cassette.jsonl").read_bytes() == (live / "cassette.jsonl").read_bytes()
    assert json.loads((replayed / "brief.json").read_text()) == json.loads((live / "brief.json").read_text())

    def trials(run_dir: Path) -> list[tuple[Any, ...]]:
        return [(e.step, e.params, e.value, e.status) for e in RunStore.open(run_dir).events() if e.kind == "trial"]

    assert trials(replayed) == trials(live)
