"""Cassette recording, replay with the network off, and resume without repeated paid calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply
from llm_support import ClientFactory
from pydantic import BaseModel

from bilevel_evolve.engine.llm.cassette import Cassette
from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.factory import build_llm_client
from bilevel_evolve.ground.errors import EvolveError, RunDirError


class Step(BaseModel):
    x: int


def ask(client: LLMClient, prompt: str) -> int:
    return client.complete_json([{"role": "user", "content": prompt}], Step, "step").x


def record_three(fake: FakeOpenAI, make_client: ClientFactory, run: Path) -> list[int]:
    fake.script(*(Reply.json({"x": i}) for i in (10, 20, 30)))
    client = make_client(run)
    return [ask(client, f"prompt {i}") for i in range(3)]


def test_each_exchange_is_one_cassette_line(fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path) -> None:
    record_three(fake, make_client, tmp_path / "run")
    lines = (tmp_path / "run" / "cassette.jsonl").read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["seq"] == 1 and first["purpose"] == "step"
    assert json.loads(first["response"]) == {"x": 10}
    assert first["usage"] == {"prompt_tokens": 100, "completion_tokens": 20}
    assert first["request"]["messages"][0]["content"].startswith("prompt 0")
    assert "sk-test" not in (tmp_path / "run" / "cassette.jsonl").read_text()


def test_a_torn_last_line_is_dropped_and_the_next_append_is_clean(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    record_three(fake, make_client, run)
    path = run / "cassette.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 40])  # a crash in the middle of writing line 3
    assert [e.seq for e in Cassette(path).read()] == [1, 2]
    client = make_client(run)
    client.load_state_dict({"calls": 2, "prompt_tokens": 200, "completion_tokens": 40, "cost_usd": 0.00028})
    fake.script(Reply.json({"x": 33}))
    assert ask(client, "prompt 2") == 33
    assert [e.seq for e in Cassette(path).read()] == [1, 2, 3]


def test_a_corrupt_middle_line_is_an_error_not_silently_skipped(tmp_path: Path) -> None:
    path = tmp_path / "cassette.jsonl"
    path.write_text('{"seq": 1}\n{"seq": 2}\n')
    with pytest.raises(RunDirError, match="line 1 is not a cassette entry"):
        Cassette(path).read()


def test_replay_reproduces_the_decisions_with_the_server_gone(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    recorded = record_three(fake, make_client, tmp_path / "run")
    fake.stop()
    replay = build_llm_client(None, None, None, None, None, tmp_path / "replay", replay_from=tmp_path / "run", env={})
    assert [ask(replay, f"prompt {i}") for i in range(3)] == recorded
    assert replay.totals.calls == 3 and replay.totals.cost_usd == pytest.approx(3 * 0.00014)
    assert (tmp_path / "replay" / "cassette.jsonl").read_bytes() == (tmp_path / "run" / "cassette.jsonl").read_bytes()


def test_replay_detects_a_diverging_request(fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path) -> None:
    record_three(fake, make_client, tmp_path / "run")
    replay = build_llm_client(None, None, None, None, None, None, replay_from=tmp_path / "run")
    ask(replay, "prompt 0")
    with pytest.raises(EvolveError, match="replay diverged at exchange 2: the run's inputs differ"):
        ask(replay, "a different prompt")


def test_replay_past_the_end_of_the_cassette_says_so(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    record_three(fake, make_client, tmp_path / "run")
    replay = build_llm_client(None, None, None, None, None, None, replay_from=tmp_path / "run")
    for i in range(3):
        ask(replay, f"prompt {i}")
    with pytest.raises(EvolveError, match="exchange 4 was asked for, the cassette holds 3"):
        ask(replay, "prompt 3")


def test_replay_of_a_run_without_a_cassette_is_a_run_dir_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="nothing to replay"):
        build_llm_client(None, None, None, None, None, None, replay_from=tmp_path)


def test_resume_reserves_exchanges_recorded_after_the_checkpoint_without_calling(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    fake.script(*(Reply.json({"x": i}) for i in (10, 20, 30)))
    first = make_client(run)
    ask(first, "prompt 0")
    checkpoint = json.loads(json.dumps(first.state_dict()))  # after exchange 1
    ask(first, "prompt 1")
    ask(first, "prompt 2")  # then the process dies
    served = len(fake.requests)

    resumed = make_client(run)
    resumed.load_state_dict(checkpoint)
    assert [ask(resumed, "prompt 1"), ask(resumed, "prompt 2")] == [20, 30]
    assert len(fake.requests) == served  # no repeated paid call
    assert resumed.state_dict() == first.state_dict()
    fake.script(Reply.json({"x": 40}))
    assert ask(resumed, "prompt 3") == 40  # then live again
    assert [e.seq for e in Cassette.in_run(run).read()] == [1, 2, 3, 4]


def test_resume_truncates_the_cassette_when_the_recorded_future_no_longer_matches(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    record_three(fake, make_client, run)
    resumed = make_client(run)
    resumed.load_state_dict({"calls": 1, "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.00014})
    fake.script(Reply.json({"x": 77}))
    assert ask(resumed, "another prompt") == 77
    entries = Cassette.in_run(run).read()
    assert [e.seq for e in entries] == [1, 2]
    assert json.loads(entries[1].response) == {"x": 77}


def test_a_resumed_replay_reserves_from_the_checkpoint_on(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    recorded = record_three(fake, make_client, tmp_path / "run")
    fake.stop()
    first = build_llm_client(None, None, None, None, None, tmp_path / "replay", replay_from=tmp_path / "run")
    ask(first, "prompt 0")
    checkpoint = first.state_dict()
    ask(first, "prompt 1")
    again = build_llm_client(None, None, None, None, None, tmp_path / "replay", replay_from=tmp_path / "run")
    again.load_state_dict(checkpoint)
    assert [ask(again, "prompt 1"), ask(again, "prompt 2")] == recorded[1:]
    assert len(Cassette.in_run(tmp_path / "replay").read()) == 3
