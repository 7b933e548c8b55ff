"""The llm agent at every level (the paper's set-up: one model for Levels 1, 1.5 and 2), against a
loopback OpenAI-compatible server that plays the model; then the whole run replayed offline."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.outer.research.recipes import get_recipe, recipe_source
from bilevel_evolve.engine.run.store import RunStore

pytestmark = pytest.mark.usefixtures("sandbox_ready")

SPACE = {  # function:branin
    "x1": (-5.0, 10.0), "x2": (0.0, 15.0),
}
BAD_CODE = "import sklearn\n\nclass Broken:\n    name = 'broken'\n\nMECHANISM = Broken\n"


def model(request: dict[str, Any]) -> Reply:
    """A deterministic stand-in for the LLM: answers each kind of prompt with valid JSON."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    rng = random.Random(hashlib.sha256(user.encode()).hexdigest())
    if "supervise" in system:
        return Reply.json({"diagnosis": "stuck on x1", "strategy": "explore", "freeze": [], "unfreeze": [],
                           "focus": ["x2"], "step_scale": 1.5, "guidance": "move x2", "mechanisms_enabled": True})
    if "research engineer" in system:
        if "Round 1 of 4" in user:
            return Reply.json({"hypotheses": [
                {"bottleneck": "repetition", "idea": "tabu search", "evidence": "repeats", "impact": 0.8,
                 "feasibility": 0.9, "complexity": 1.0},
                {"bottleneck": "no-model", "idea": "GP surrogate", "evidence": "no model", "impact": 0.7,
                 "feasibility": 0.5, "complexity": 2.0}]})
        if "Rounds 2 and 3" in user:
            return Reply.json({"name": "tabu-search", "hooks": ["review", "observe"], "integration": "veto repeats",
                               "description": "Tabu list of recent points."})
        if "Round 4 of 4" in user:  # the first draft reaches for a library the gate does not allow
            return Reply.json({"code": BAD_CODE})
        if "repair round" in user:
            return Reply.json({"code": recipe_source(get_recipe("tabu")).decode()})
    params = {name: round(rng.uniform(lo, hi), 4) for name, (lo, hi) in SPACE.items()}
    return Reply.json({"params": params, "rationale": "a point the history has not covered"})


def _trials(run_dir: Path) -> list[tuple]:
    return [(e.step, e.params, e.value, e.status) for e in RunStore.open(run_dir).events() if e.kind == "trial"]


def test_llm_drives_every_level_and_replays_offline(tmp_path: Path, fake: FakeOpenAI,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake.responder = model
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    monkeypatch.chdir(tmp_path)
    common = ["--domain", "function:branin", "--iterations", "10", "--levels", "1,1.5,2", "--level2-every", "4",
              "--archive", str(tmp_path / "archive"), "--no-progress"]
    run_dir = tmp_path / "live"
    assert main(["run", *common, "--agent", "llm", "--provider", "fake", "--base-url", fake.base_url,
                 "--api-key-env", "FAKE_KEY", "--model", "fake-model", "--run-dir", str(run_dir)]) == 0
    events = RunStore.open(run_dir).events()
    assert any(e.kind == "config_changed" and e.source == "llm" for e in events)
    sessions = [e for e in events if e.kind == "research_session"]
    assert sessions and sessions[0].source == "llm"
    first = sessions[0].candidates
    assert [c["status"] for c in first] == ["rejected-static", "accepted"]  # repaired from the gate report
    assert first[1]["parents"] == [first[0]["id"]]
    repair_prompt = next(r for r in fake.requests if "repair round" in r["messages"][-1]["content"])
    assert "sklearn" in repair_prompt["messages"][-1]["content"]  # the repair saw the gate's report
    assert any(e.kind == "hook" for e in events)  # the LLM-written mechanism is live
    purposes = [json.loads(line)["purpose"] for line in (run_dir / "cassette.jsonl").read_text().splitlines()]
    assert {"propose", "level15", "level2/explore", "level2/specify", "level2/generate", "level2/repair"} <= set(
        purposes)

    fake.stop()  # network off: the replay must need none of it
    replay_dir = tmp_path / "replayed"
    assert main(["run", *common, "--agent", f"replay:{run_dir}", "--run-dir", str(replay_dir)]) == 0
    assert _trials(replay_dir) == _trials(run_dir)
