"""The `llm` proposer: prompt content, merging onto the incumbent, repair of invalid proposals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply
from llm_support import ClientFactory

from bilevel_evolve.engine.agents.llm import LLMAgent
from bilevel_evolve.engine.llm.factory import build_llm_client
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.ground.records import Hints, SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.ground.space import SearchSpace

SPACE = SearchSpace.from_dict(
    {
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 0.01},
        "batch": {"type": "int", "low": 8, "high": 512, "log": True, "default": 256},
        "act": {"type": "choice", "choices": ["relu", "gelu"], "default": "relu"},
    }
)


def trial(i: int, value: float, accepted: bool, **params: object) -> TrialRecord:
    full = {**SPACE.defaults(), **params}
    return TrialRecord(iteration=i, params=full, status="ok", value=value, accepted=accepted)  # type: ignore[arg-type]


HISTORY = (
    trial(0, 3.2, True),
    trial(1, 3.0, True, batch=128),
    trial(2, 3.1, False, batch=128, lr=0.05),
    trial(3, 2.9, True, batch=64),
)


def context(config: SearchConfig | None = None, hints: Hints | None = None) -> SearchContext:
    return SearchContext(
        space=SPACE,
        direction="minimize",
        iteration=4,
        history=HISTORY,
        incumbent=HISTORY[-1],
        config=config or SearchConfig(),
        hints=hints or Hints(),
    )


def test_a_partial_answer_is_merged_onto_the_incumbent(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"params": {"batch": 32}, "rationale": "smaller batches have won so far"}))
    proposal = LLMAgent(make_client()).propose(context())
    assert proposal.params == {"lr": 0.01, "batch": 32, "act": "relu"}
    assert proposal.source == "llm" and "smaller batches" in proposal.rationale


def test_the_prompt_carries_space_history_usage_config_and_hints(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"params": {"act": "gelu"}}))
    config = SearchConfig(frozen=("lr",), strategy="focused", focus=("batch",), guidance="halve the batch")
    hints = Hints(focus=("act",), avoid=("lr",), notes=("tabu: batch=64 visited twice",))
    LLMAgent(make_client()).propose(context(config, hints))
    system, user = fake.requests[0]["messages"]
    assert system["role"] == "system" and "scientist" in system["content"]
    text = user["content"]
    assert "minimize the metric" in text
    assert "- lr: float in [0.0001, 1], log scale; default 0.01  (FROZEN" in text
    assert "- act: one of relu, gelu" in text
    assert "| 2 | 3.1 | ok | no | lr=0.05 |" in text  # changes relative to the incumbent of the time
    assert "| batch | 2 | 2 |" in text and "| lr | 1 | 0 |" in text  # tried N times, kept M times
    assert "strategy: focused" in text and "guidance: halve the batch" in text
    assert "focus on: act" in text and "avoid: lr" in text and "tabu: batch=64 visited twice" in text
    assert "batch=64" in text.split("## Incumbent")[1].split("##")[0]


def test_an_out_of_range_answer_gets_a_repair_round_listing_the_problem(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.script(Reply.json({"params": {"batch": 4096}}), Reply.json({"params": {"batch": 512}}))
    proposal = LLMAgent(make_client()).propose(context())
    assert proposal.params["batch"] == 512
    repair = fake.requests[1]["messages"][-1]["content"]
    assert "batch: 4096 is outside [8, 512]" in repair


def test_an_unknown_parameter_is_repaired_and_a_frozen_change_is_refused(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.script(Reply.json({"params": {"depth": 4}}), Reply.json({"params": {"lr": 0.2}}))
    with pytest.raises(EvolveError, match=r"lr is frozen and must stay 0\.01"):
        LLMAgent(make_client()).propose(context(SearchConfig(frozen=("lr",))))
    assert "unknown parameter 'depth'" in fake.requests[1]["messages"][-1]["content"]


def test_agent_state_carries_the_client_accounting(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"params": {"batch": 32}}))
    agent = LLMAgent(make_client())
    agent.propose(context())
    state = json.loads(json.dumps(agent.state_dict()))
    assert state["proposals"] == 1 and state["client"]["calls"] == 1
    assert state["client"]["cost_usd"] > 0


def test_replayed_agent_makes_the_same_proposals_with_the_network_off(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    fake.script(
        Reply.json({"params": {"batch": 4096}}),  # repaired, so the replay covers the repair round too
        Reply.json({"params": {"batch": 32}, "rationale": "a"}),
        Reply.json({"params": {"act": "gelu"}, "rationale": "b"}),
    )
    agent = LLMAgent(make_client(tmp_path / "run"))
    recorded = [agent.propose(context()), agent.propose(context(SearchConfig(strategy="explore")))]
    fake.stop()
    replay = LLMAgent(build_llm_client(None, None, None, None, None, None, replay_from=tmp_path / "run"))
    assert [replay.propose(context()), replay.propose(context(SearchConfig(strategy="explore")))] == recorded
    assert replay.state_dict() == agent.state_dict()
