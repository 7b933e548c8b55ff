"""A text run with the model (`--agent llm`) against the loopback server, through the real openai client:
the same pipeline, judge and Level 1.5 use the model; the judge never sees a lesson; a judge answer that
stays unusable makes an invalid step and the run goes on; the run replays offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply
from text_model import TextModel, is_judge, quoted

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.domains.text.domain import TextDomain
from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.llm.client import with_json_instruction
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.text.llm_judge import JudgeAnswer, judge_messages


@pytest.fixture
def domain() -> TextDomain:
    loaded = load_domain("text:example")
    assert isinstance(loaded, TextDomain)
    return loaded


def _live(fake: FakeOpenAI, run_dir: Path, *extra: str, iterations: int = 6) -> int:
    return main(["run", "--domain", "text:example", "--iterations", str(iterations), "--agent", "llm",
                 "--provider", "fake", "--base-url", fake.base_url, "--api-key-env", "FAKE_KEY",
                 "--model", "fake-model", "--run-dir", str(run_dir), "--no-progress", *extra])


def _trials(run_dir: Path) -> list[tuple]:
    return [(e.step, e.params, e.status, e.value, e.metrics) for e in RunStore.open(run_dir).events()
            if e.kind == "trial"]


def test_the_judge_sees_the_draft_and_the_rubric_only_while_the_proposing_stages_read_lessons(
        tmp_path: Path, fake: FakeOpenAI, domain: TextDomain, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.responder = TextModel(domain.rubric)
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    run_dir = tmp_path / "live"
    assert _live(fake, run_dir, "--levels", "1,1.5", "--level15-every", "2") == 0
    book = DraftBook(run_dir)
    judged = [r for r in fake.requests if is_judge(r)]
    assert len(judged) == len(_trials(run_dir))  # one judgement per trial (no repair was needed)
    expected = {n: with_json_instruction(judge_messages(domain.rubric, book.text(n)), JudgeAnswer)
                for n in book.numbers()}
    for request in judged:
        draft = quoted(request["messages"][-1]["content"], "article")
        number = next(n for n in book.numbers() if book.text(n) == draft)
        assert request["messages"] == expected[number]  # exactly the rubric and the draft: nothing else
    lessons = [lesson for lesson in (run_dir / "text" / "lessons.md").read_text().splitlines() if "iteration" in lesson]
    assert lessons
    every_judge_word = "\n".join(m["content"] for r in judged for m in r["messages"])
    assert "Recent steps" not in every_judge_word and "iteration" not in every_judge_word
    staged = [r for r in fake.requests if "Stage: planning" in r["messages"][-1]["content"]]
    assert any("Recent steps" in r["messages"][-1]["content"] for r in staged)  # the lessons reach the planner
    events = RunStore.open(run_dir).events()
    assert any(e.kind == "pipeline_changed" and e.source == "llm" for e in events)
    trials = _trials(run_dir)
    assert max(t[3] for t in trials) > trials[0][3]
    assert set(trials[0][4]) == {c.id for c in domain.rubric.criteria}  # the model judges clarity too


def test_a_judge_answer_that_stays_unusable_is_an_invalid_step_and_the_run_goes_on(
        tmp_path: Path, fake: FakeOpenAI, domain: TextDomain, monkeypatch: pytest.MonkeyPatch) -> None:
    model = TextModel(domain.rubric)
    fake.responder = model
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    run_dir = tmp_path / "live"
    calls = {"judge": 0}

    def respond(request: dict) -> Reply:
        if is_judge(request):
            calls["judge"] += 1
            if calls["judge"] in (3, 4):  # the second search trial's judgement and its repair
                model.bad_judgements = 1
        return model(request)

    fake.responder = respond
    assert _live(fake, run_dir, iterations=4) == 0
    trials = _trials(run_dir)
    assert [t[2] for t in trials] == ["ok", "ok", "invalid", "ok", "ok"]
    invalid = next(e for e in RunStore.open(run_dir).events() if e.kind == "trial" and e.status == "invalid")
    assert "judge" in invalid.message and "repair" in invalid.message


def test_a_text_run_with_the_model_replays_offline(tmp_path: Path, fake: FakeOpenAI, domain: TextDomain,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake.responder = TextModel(domain.rubric)
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    live = tmp_path / "live"
    assert _live(fake, live, "--levels", "1,1.5", "--level15-every", "2") == 0
    fake.stop()
    replayed = tmp_path / "replayed"
    assert main(["run", "--domain", "text:example", "--iterations", "6", "--levels", "1,1.5", "--level15-every", "2",
                 "--agent", f"replay:{live}", "--run-dir", str(replayed), "--no-progress"]) == 0
    assert _trials(replayed) == _trials(live)
    for n in DraftBook(live).numbers():
        assert DraftBook(replayed).text(n) == DraftBook(live).text(n)
