"""Level 2 reads the loop: a research session's prompt carries the brief, what the proposer is shown, the
active mechanisms' sources with their measured effect and hook counts, and what was turned down, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from test_llm_all_levels import model

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.llm.budget import message_tokens

pytestmark = pytest.mark.usefixtures("sandbox_ready")


def test_a_research_session_reads_the_brief_the_proposers_prompt_and_the_mechanisms(
        tmp_path: Path, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.responder = model
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", "function:branin", "--iterations", "9", "--levels", "1,2", "--level2-every", "4",
                 "--archive", str(tmp_path / "archive"), "--no-progress", "--agent", "llm", "--provider", "fake",
                 "--base-url", fake.base_url, "--api-key-env", "FAKE_KEY", "--model", "fake-model",
                 "--run-dir", str(run_dir), "--prompt-tokens", "8000"]) == 0
    entries = [json.loads(line) for line in (run_dir / "cassette.jsonl").read_text().splitlines()]
    explores = [e["request"]["messages"][-1]["content"] for e in entries if e["purpose"] == "level2/explore"]
    assert len(explores) == 2
    first, second = explores
    for prompt in explores:
        assert "black-box benchmark function" in prompt  # the brief (which names no benchmark)
        assert "### What the proposer is shown" in prompt and "Iteration " in prompt.split("## The inner loop")[1]
    assert "### Mechanisms active now\n(none)" in first
    loop = second.split("## The inner loop")[1]
    assert "#### tabu-search" in loop and "<<<DATA source of tabu-search" in loop and "class TabuSearch" in loop
    assert "- hook calls: review 4 (changed a decision" in loop
    assert "- measured effect: " in loop and "not measured yet" not in loop.split("#### tabu-search")[1][:400]
    turned_down = loop.split("rolled back or turned down, and why")[1]
    assert "(rejected-static): line 1: import of 'sklearn' is not allowed" in turned_down
    for entry in entries:  # every prompt of the run within --prompt-tokens
        assert message_tokens(entry["request"]["messages"]) <= 8000, entry["purpose"]
