"""The `llm` proposer with several workers: n points asked in one call, the trials in flight in the
prompt, and nothing of either in the prompt of a one-worker run."""

from __future__ import annotations

from dataclasses import replace

from fake_openai import FakeOpenAI, Reply
from llm_support import ClientFactory
from test_llm_agent import context

from bilevel_evolve.engine.agents.batch import propose_many
from bilevel_evolve.engine.agents.llm import LLMAgent
from bilevel_evolve.ground.records import PendingTrial


def test_workers_starting_together_get_their_points_from_one_call(fake: FakeOpenAI,
                                                                   make_client: ClientFactory) -> None:
    fake.script(Reply.json({"proposals": [{"params": {"batch": 32}, "rationale": "smaller"},
                                          {"params": {"lr": 0.1}, "rationale": "bolder"},
                                          {"params": {"act": "gelu"}, "rationale": "the other activation"}]}))
    agent = LLMAgent(make_client())
    proposals = propose_many(agent, context(), 3)
    assert len(fake.requests) == 1
    assert [p.params for p in proposals] == [{"lr": 0.01, "batch": 32, "act": "relu"},
                                             {"lr": 0.1, "batch": 64, "act": "relu"},
                                             {"lr": 0.01, "batch": 64, "act": "gelu"}]
    assert {p.source for p in proposals} == {"llm"} and agent.proposals == 3
    prompt = fake.requests[0]["messages"][-1]["content"]
    assert "## 3 workers start now" in prompt and '"proposals"' in prompt


def test_a_batch_that_repeats_a_running_point_or_is_short_is_repaired(fake: FakeOpenAI,
                                                                     make_client: ClientFactory) -> None:
    running = replace(context(), pending=(PendingTrial(iteration=4, params={"lr": 0.01, "batch": 32, "act": "relu"}),))
    fake.script(Reply.json({"proposals": [{"params": {"batch": 32}}, {"params": {"lr": 0.2}}]}),
                Reply.json({"proposals": [{"params": {"batch": 16}}, {"params": {"lr": 0.2}}]}))
    proposals = LLMAgent(make_client()).propose_batch(running, 2)
    assert [p.params["batch"] for p in proposals] == [16, 64]
    repair = fake.requests[1]["messages"][-1]["content"]
    assert "proposal 1 repeats a point that is running or proposed above" in repair
    fake.script(Reply.json({"proposals": [{"params": {"batch": 16}}]}), Reply.json({"proposals": [
        {"params": {"batch": 16}}, {"params": {"batch": 128}}]}))
    LLMAgent(make_client()).propose_batch(context(), 2)
    assert '"proposals" must hold exactly 2 points; it holds 1' in fake.requests[3]["messages"][-1]["content"]


def test_the_trials_in_flight_are_in_the_prompt_and_absent_with_one_worker(fake: FakeOpenAI,
                                                                           make_client: ClientFactory) -> None:
    fake.script(Reply.json({"params": {"batch": 16}}), Reply.json({"params": {"batch": 16}}))
    agent = LLMAgent(make_client())
    agent.propose(context())
    agent.propose(replace(context(), pending=(PendingTrial(iteration=4, params={"lr": 0.5, "batch": 64,
                                                                                  "act": "relu"}),)))
    alone, beside = (r["messages"][-1]["content"] for r in fake.requests)
    assert "Trials running now" not in alone
    assert "## Trials running now (1; results not known yet)\n- " in beside and "lr=0.5" in beside
    assert beside.startswith(alone.split("\n\nReply with a single JSON object")[0])
