"""The live client against a loopback OpenAI-compatible server, through the real openai SDK."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, Reply
from llm_support import TEST_PRICE, ClientFactory
from pydantic import BaseModel

from bilevel_evolve.engine.llm.client import InvalidLLMOutput
from bilevel_evolve.ground.errors import BudgetExceeded, EvolveError

GOOD = Reply.json({"x": 3, "label": "ok"})


class Answer(BaseModel):
    x: int
    label: str


def ask(client, purpose: str = "test") -> Answer:  # type: ignore[no-untyped-def]
    return client.complete_json([{"role": "user", "content": "give x"}], Answer, purpose)


def test_good_json_is_parsed_and_sent_in_json_mode(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(GOOD)
    assert ask(make_client()) == Answer(x=3, label="ok")
    request = fake.requests[0]
    assert request["model"] == "fake-model"
    assert request["response_format"] == {"type": "json_object"}
    assert "JSON Schema" in request["messages"][-1]["content"]
    assert fake.headers[0]["authorization"] == "Bearer sk-test"


def test_retries_on_429_and_500_then_succeeds(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply(status=429), Reply(status=500), GOOD)
    client = make_client()
    assert ask(client).x == 3
    assert len(fake.requests) == 3
    assert client.tape.recorder is not None
    assert client.tape.recorder.read()[0].attempts == 3


def test_retries_after_a_response_slower_than_the_timeout(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"x": 1, "label": "late"}, delay_s=1.5), GOOD)
    assert ask(make_client(timeout_s=0.3)).label == "ok"
    assert len(fake.requests) == 2


def test_does_not_retry_a_400(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply(status=400, error="model does not exist"), GOOD)
    with pytest.raises(EvolveError, match="refused the request: HTTP 400") as err:
        ask(make_client())
    assert "model does not exist" in str(err.value)
    assert len(fake.requests) == 1


def test_a_401_names_the_key_variable_and_is_not_retried(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply(status=401, error="bad key"), GOOD)
    with pytest.raises(EvolveError, match="rejected the API key") as err:
        ask(make_client())
    assert "$FAKE_KEY" in str(err.value)
    assert len(fake.requests) == 1


def test_gives_up_after_the_retry_budget_with_a_clear_error(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(*[Reply(status=503)] * 4, GOOD)
    with pytest.raises(EvolveError, match="kept failing after 4 attempt"):
        ask(make_client())
    assert len(fake.requests) == 4


def test_invalid_json_is_repaired_in_one_round(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply(content="x is three"), GOOD)
    client = make_client()
    assert ask(client).x == 3
    repair = fake.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "x is three"}
    assert "not valid JSON" in repair[-1]["content"]
    purposes = [e.purpose for e in client.tape.recorder.read()]  # type: ignore[union-attr]
    assert purposes == ["test", "test/repair"]


def test_schema_mismatch_is_repaired_with_the_validation_error(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"x": "many"}), GOOD)
    assert ask(make_client()).label == "ok"
    problems = fake.requests[1]["messages"][-1]["content"]
    assert "x:" in problems and "label:" in problems


def test_json_wrapped_in_a_code_fence_is_accepted(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply(content='Here:\n```json\n{"x": 5, "label": "f"}\n```'))
    assert ask(make_client()).x == 5
    assert len(fake.requests) == 1


def test_a_failed_repair_raises_and_quotes_what_the_model_said(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply(content="nope"), Reply(content="still not json"))
    with pytest.raises(InvalidLLMOutput, match="after one repair round") as err:
        ask(make_client())
    assert "still not json" in str(err.value)
    assert err.value.fix and "--agent offline" in err.value.fix
    assert len(fake.requests) == 2


def test_a_caller_check_drives_the_repair_round(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"x": 99, "label": "a"}), GOOD)
    client = make_client()
    answer = client.complete_json(
        [{"role": "user", "content": "x below 10"}],
        Answer,
        "test",
        check=lambda a: [f"x={a.x} is not below 10"] if a.x >= 10 else [],
    )
    assert answer.x == 3
    assert "- x=99 is not below 10" in fake.requests[1]["messages"][-1]["content"]


def test_tokens_and_cost_are_accounted_per_call(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"x": 1, "label": "a"}, prompt_tokens=1000, completion_tokens=500), GOOD)
    client = make_client()
    ask(client)
    ask(client)
    assert client.totals.calls == 2
    assert client.totals.prompt_tokens == 1100
    assert client.totals.completion_tokens == 520
    expected = TEST_PRICE.cost_usd(1000, 500) + TEST_PRICE.cost_usd(100, 20)
    assert client.totals.cost_usd == pytest.approx(expected)
    assert [e.cost_usd for e in client.tape.recorder.read()] == pytest.approx(  # type: ignore[union-attr]
        [0.002, 0.00014]
    )


def test_budget_exceeded_stops_before_the_next_call(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script(Reply.json({"x": 1, "label": "a"}, prompt_tokens=1000, completion_tokens=500), GOOD)
    client = make_client(max_cost_usd=0.002)
    ask(client)  # starts under budget, ends exactly at it
    with pytest.raises(BudgetExceeded, match="budget spent") as err:
        ask(client)
    assert err.value.fix and "--max-cost" in err.value.fix
    assert len(fake.requests) == 1


def test_a_budget_without_a_known_price_is_a_usage_error(make_client: ClientFactory) -> None:
    with pytest.raises(EvolveError, match="no price is known"):
        make_client(price=None, max_cost_usd=1.0)
