"""Structured answers: a provider whose preset declares JSON-schema response formats gets the schema that
way (not in the prompt); one that refuses the format is asked the old way from then on, and told once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from llm_support import FAST_RETRY, TEST_PRICE
from test_llm_agent import context

from bilevel_evolve.engine.agents.llm import LLMAgent
from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.factory import build_llm_client
from bilevel_evolve.engine.llm.providers import PRESETS, resolve_endpoint

SCHEMA_IN_PROMPT = "It must match this JSON Schema"


def openai_like(fake: FakeOpenAI, run_dir: Path, tmp_path: Path) -> LLMClient:
    """The openai preset (which declares JSON-schema support), pointed at the loopback server."""
    return build_llm_client("openai", "fake-model", fake.base_url, "FAKE_KEY", None, run_dir, None, price=TEST_PRICE,
                            timeout_s=2.0, retry=FAST_RETRY, env={"FAKE_KEY": "sk-test"}, cwd=tmp_path)


def test_presets_say_which_providers_take_json_schema_formats() -> None:
    assert PRESETS["openai"].json_schema and not PRESETS["deepseek"].json_schema
    custom = resolve_endpoint(None, "m", "http://127.0.0.1:1/v1", "K", env={"K": "x"})
    assert not custom.json_schema  # an unknown endpoint: the schema goes in the prompt


def test_a_provider_that_declares_support_gets_the_schema_as_the_response_format(
        fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(Reply.json({"params": {"batch": 32}}))
    proposal = LLMAgent(openai_like(fake, tmp_path / "run", tmp_path)).propose(context())
    assert proposal.params["batch"] == 32
    body = fake.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "ProposalAnswer"
    assert "params" in body["response_format"]["json_schema"]["schema"]["properties"]
    assert SCHEMA_IN_PROMPT not in body["messages"][-1]["content"]


def test_a_provider_that_refuses_the_format_is_asked_with_the_schema_in_the_prompt_and_says_so_once(
        fake: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def refuses_schemas(request: dict[str, Any]) -> Reply:
        if request.get("response_format", {}).get("type") == "json_schema":
            return Reply(status=400, error="Invalid parameter: 'response_format' of type 'json_schema' is not "
                                           "supported with this model")
        return Reply.json({"params": {"batch": 64}})

    fake.responder = refuses_schemas
    client = openai_like(fake, tmp_path / "run", tmp_path)
    agent = LLMAgent(client)
    assert agent.propose(context()).params["batch"] == 64
    assert agent.propose(context()).params["batch"] == 64
    formats = [r.get("response_format", {}).get("type") for r in fake.requests]
    assert formats == ["json_schema", "json_object", "json_object"]  # refused once, then never asked again
    assert SCHEMA_IN_PROMPT in fake.requests[1]["messages"][-1]["content"]
    assert capsys.readouterr().err.count("JSON schema goes into the prompt from now on") == 1
    assert client.state_dict()["structured"] is False  # a resumed run keeps asking the old way
    assert client.totals.calls == 2  # the refused request is no exchange: nothing recorded, nothing paid


def test_a_replay_asks_the_way_the_recorded_run_asked(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.script(Reply.json({"params": {"batch": 32}}), Reply.json({"params": {"act": "gelu"}}))
    agent = LLMAgent(openai_like(fake, tmp_path / "run", tmp_path))
    recorded = [agent.propose(context()), agent.propose(context())]
    fake.stop()
    replay = LLMAgent(build_llm_client(None, None, None, None, None, tmp_path / "again", replay_from=tmp_path / "run"))
    assert [replay.propose(context()), replay.propose(context())] == recorded
    assert (tmp_path / "again" / "cassette.jsonl").read_bytes() == (tmp_path / "run" / "cassette.jsonl").read_bytes()
