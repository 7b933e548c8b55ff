"""Prompts stay within their token budget on a 2,000-trial history, at every level, by summarizing the
history (best trials, recent trials, failure reasons, per-parameter effects) instead of cutting it."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from autoresearch_standin import copy_standin
from fake_openai import FakeOpenAI, Reply
from llm_support import ClientFactory

from bilevel_evolve.domains.train_opt import TrainOptDomain
from bilevel_evolve.engine.agents.llm import LLMAgent
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.analysis.diagnosis import diagnose
from bilevel_evolve.engine.llm.briefing import Briefing
from bilevel_evolve.engine.llm.budget import PromptBudget, message_tokens
from bilevel_evolve.engine.outer.level15 import LLMAnalyst
from bilevel_evolve.engine.outer.research.candidates import ResearchInput
from bilevel_evolve.engine.outer.research.llm_scientist import LLMScientist
from bilevel_evolve.engine.outer.view import LoopView
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord

BUDGET = 5000
TRIALS = 2000


def history(domain: TrainOptDomain) -> tuple[TrialRecord, ...]:
    rng = random.Random(7)
    out = [TrialRecord(iteration=0, params=domain.space.defaults(), status="ok", value=1.2, accepted=True,
                       source="baseline")]
    best = 1.2
    for i in range(1, TRIALS):
        params = domain.space.sample(rng)
        if rng.random() < 0.15:
            out.append(TrialRecord(iteration=i, params=params, status="crashed", value=None, accepted=False,
                                   source="llm", reason=f"RuntimeError: CUDA out of memory. Tried to allocate "
                                   f"{rng.randint(1, 40)}.00 GiB"))
            continue
        value = round(rng.uniform(0.9, 1.4), 6)
        out.append(TrialRecord(iteration=i, params=params, status="ok", value=value, accepted=value < best,
                               source="llm"))
        best = min(best, value)
    return tuple(out)


@pytest.fixture
def loop(tmp_path: Path) -> InnerLoop:
    domain = TrainOptDomain(copy_standin(tmp_path / "ar", fixed=True))
    config = RunConfig(run_id="big", domain="train_opt", iterations=TRIALS, agent="llm", prompt_tokens=BUDGET)
    loop = InnerLoop(RunStore.create(tmp_path / "run", config), config, domain, OfflineAgent())
    loop.state.history = list(history(domain))
    loop.state.incumbent_step = max(i for i, t in enumerate(loop.state.history) if t.accepted)
    return loop


def test_every_level_fits_the_budget_on_a_2000_trial_history(fake: FakeOpenAI, make_client: ClientFactory,
                                                            loop: InnerLoop) -> None:
    fake.responder = lambda request: Reply.json(_answer(request["messages"][-1]["content"]))
    briefing = Briefing(loop.domain.brief(), PromptBudget(BUDGET))
    client = make_client()
    view = LoopView(loop, TRIALS, TRIALS)
    ctx = SearchContext(space=view.space, direction=view.direction, iteration=TRIALS, history=view.history,
                        incumbent=view.incumbent, config=SearchConfig())
    LLMAgent(client, briefing).propose(ctx)
    diagnosis = diagnose(view.history, view.space, view.direction, 5)
    LLMAnalyst(client, briefing).decide(diagnosis, SearchConfig(), view)
    data = ResearchInput(diagnosis=diagnosis, active=(), tried=frozenset(), session_number=1, space_text="",
                         history_text="", loop=view)
    LLMScientist(client, briefing).hypothesize(data)

    assert len(fake.requests) == 3
    for request in fake.requests:
        assert message_tokens(request["messages"]) <= BUDGET
    proposer, analyst, scientist = (r["messages"][-1]["content"] for r in fake.requests)
    for prompt in (proposer, analyst):
        assert re.search(rf"{TRIALS} trials in all \(\d+ crashed, \d+ ok; \d+ kept\)", prompt)  # all of it, counted
        assert "Best 5:" in prompt and "Most recent" in prompt  # then its best and its latest
        assert "| DEPTH |" in prompt  # every parameter's effect
        assert "CUDA out of memory. Tried to allocate" in prompt  # the failure reasons
        assert "per-device batch size (reduce if OOM)" in prompt  # and the brief, within its share
    assert "What the proposer is shown" in scientist and "per-device batch size (reduce if OOM)" in scientist


def test_a_small_budget_shortens_the_brief_before_the_trials_vanish(fake: FakeOpenAI, make_client: ClientFactory,
                                                                   loop: InnerLoop) -> None:
    fake.responder = lambda request: Reply.json({"params": {"DEPTH": 6}})
    small = 2500
    view = LoopView(loop, TRIALS, TRIALS)
    ctx = SearchContext(space=view.space, direction=view.direction, iteration=TRIALS, history=view.history,
                        incumbent=view.incumbent, config=SearchConfig())
    LLMAgent(make_client(), Briefing(loop.domain.brief(), PromptBudget(small))).propose(ctx)
    request = fake.requests[0]
    assert message_tokens(request["messages"]) <= small
    prompt = request["messages"][-1]["content"]
    assert "the prompt's token budget" in prompt  # the brief says it was shortened
    assert "Most recent" in prompt and "Tune the hyperparameters" in prompt


def _answer(prompt: str) -> dict[str, object]:
    if prompt.startswith("Round 1 of 4"):
        return {"hypotheses": [{"bottleneck": "failures", "idea": "memory guard", "impact": 0.8, "feasibility": 0.9,
                                "complexity": 1.0}]}
    if prompt.startswith("Goal:"):
        return {"diagnosis": "memory", "strategy": "exploit"}
    return {"params": {"DEPTH": 6}}
