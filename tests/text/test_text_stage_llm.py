"""Generated stages that call ctx.llm, in real text runs (each mechanism in its own container): the answer
arrives and every call is traced; with the model (`--agent llm`, against the loopback server through the real
openai client) the call is priced, counted and recorded in the cassette while the container holds no key and
has no network; a stage past its cap or sending a malformed request is rolled back with the reason and the run
goes on and resumes; --max-cost spent through ctx.llm stops the run as any LLM spending does; and a run whose
Level 2 wrote a stage that calls ctx.llm replays offline from its cassette to the same decisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from live_support import live_run
from text_model import TextModel, quoted, system_of, user_of

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.llm.cassette import Cassette
from bilevel_evolve.engine.outer.research.recipes import STAGE_CATALOG, recipe_source
from bilevel_evolve.engine.reports.mechanisms_table import mechanism_lines
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import LLMSettings
from bilevel_evolve.ground.contract.interface import MAX_LLM_CALLS
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EXIT_FAILED
from bilevel_evolve.sandbox.guest.worker_link import WORKER_ENV

pytestmark = pytest.mark.usefixtures("sandbox_ready")

KEY = "sk-test-never-in-the-box"
MODEL_SAYS = "That is the model's rewrite."

# Rewrites the draft's longest paragraph with the model's answer (vetted gate -> box like any --mechanism).
ASK_STAGE = '''
class AskStage:
    name = "ask-stage"
    position = "after:revision"

    def stage(self, draft, ctx):
        blocks = draft.split("\\n\\n")
        longest = max(range(len(blocks)), key=lambda i: len(blocks[i]))
        for _ in range(CALLS):
            answer = ctx.llm("Rewrite this paragraph in plain words.\\n\\n" + blocks[longest], max_tokens=600)
        if answer.strip():
            blocks[longest] = answer.strip()
        return "\\n\\n".join(blocks)


MECHANISM = AskStage
'''


def _stage_file(tmp_path: Path, calls: int = 1) -> Path:
    path = tmp_path / "ask_stage.py"
    path.write_text(ASK_STAGE.replace("CALLS", str(calls)))
    return path


def is_mechanism_request(request: dict[str, Any]) -> bool:
    return "request that a mechanism sends" in system_of(request)


def model_answer(request: dict[str, Any]) -> str:
    """The loopback model's answer to a ctx.llm request: the quoted paragraph, and a sentence of its own."""
    body = quoted(user_of(request), "request").split("\n\n", 1)[-1]
    return f"{body.strip()} {MODEL_SAYS}"


class StageModel:
    """The loopback model of these runs: TextModel for the pipeline and the judge, the answer above for ctx.llm
    (with `tokens` as its usage), and a research session that writes a stage looping on ctx.llm first (rejected
    at vetting) and repairs it into the catalog's model-rewrite stage."""

    def __init__(self, tokens: int = 100) -> None:
        self.text = TextModel(load_domain("text:example").rubric)  # type: ignore[attr-defined]
        self.tokens = tokens

    def __call__(self, request: dict[str, Any]) -> Reply:
        system, user = system_of(request), user_of(request)
        if is_mechanism_request(request):
            return Reply(content=model_answer(request), prompt_tokens=self.tokens)
        if "research engineer" not in system:
            return self.text(request)
        if "Round 1 of 4" in user:
            return Reply.json({"hypotheses": [{"bottleneck": "plateau", "idea": "have the model rewrite the densest "
                               "paragraph", "evidence": "no kept draft lately", "impact": 0.8, "feasibility": 0.9,
                               "complexity": 1.0}]})
        if "Rounds 2 and 3" in user:
            return Reply.json({"name": "model-rewrite", "hooks": ["stage"], "integration": "after the revision",
                               "description": "asks ctx.llm to rewrite the longest paragraph"})
        if "Round 4 of 4" in user:
            return Reply.json({"code": ASK_STAGE.replace("CALLS", str(MAX_LLM_CALLS + 3))})
        if "repair round" in user:
            recipe = next(r for r in STAGE_CATALOG if r.name == "stage_model")
            return Reply.json({"code": recipe_source(recipe).decode()})
        raise AssertionError(f"unexpected research request: {user[:80]!r}")


def _llm_flags(fake: FakeOpenAI) -> list[str]:
    return ["--agent", "llm", "--provider", "fake", "--base-url", fake.base_url, "--api-key-env", "FAKE_KEY",
            "--model", "fake-model"]


def _events(run_dir: Path, kind: str) -> list[Any]:
    return [e for e in RunStore.open(run_dir).events() if e.kind == kind]


def test_offline_a_stage_asks_the_stand_in_and_every_call_is_traced(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", "text:example", "--iterations", "3", "--mechanism", str(_stage_file(tmp_path)),
                 "--archive", str(tmp_path / "archive"), "--run-dir", str(run_dir), "--no-progress"]) == 0
    asked = _events(run_dir, "mechanism_llm")
    (mech_id,) = {e.mechanism for e in asked}
    assert [(e.iteration, e.hook, e.call, e.origin, e.cost_usd) for e in asked] == [
        (i, "stage", 1, "offline", 0.0) for i in (1, 2, 3)]
    assert all(e.purpose == f"level2/stage/{mech_id[:12]}" and e.prompt_tokens > 0 for e in asked)
    assert asked[0].prompt.startswith("Rewrite this paragraph in plain words.\n\n")
    assert asked[0].answer and asked[0].answer[:200] in DraftBook(run_dir).text(1)  # the answer reached the draft
    assert not _events(run_dir, "rollback")
    checkpoint = json.loads((run_dir / "checkpoint.json").read_text())
    assert checkpoint["extra"]["mechanisms"][0]["stats"]["stage"]["llm_calls"] == 3
    (line,) = mechanism_lines(RunStore.open(run_dir).events())  # what `evolve report` shows
    assert (line.name, line.llm_calls, line.llm_cost_usd) == ("ask-stage", 3, 0.0)


@pytest.mark.parametrize(("attack", "says"), [
    (f"for i in range({MAX_LLM_CALLS + 1}):\n    ctx.llm('again %d' % i)",
     f"hook stage over-budget: called ctx.llm more than {MAX_LLM_CALLS} times in one call "
     f"(at most {MAX_LLM_CALLS} per hook call)"),
    ("fd = int(sys.argv[sys.argv.index('--res-fd') + 1])\nos.write(fd, b'LLM {\"prompt\": 7}\\n')",
     "hook stage invalid: sent a ctx.llm request it may not make: the request lacks its prompt or max_tokens"),
])
def test_a_stage_past_its_cap_or_with_a_malformed_request_is_rolled_back_and_the_run_resumes(
        tmp_path: Path, attack: str, says: str) -> None:
    body = "\n".join("            " + line for line in attack.splitlines())
    turning = MechanismSource.from_text(f"""import os, sys

class Turning:
    name = "turning"

    def stage(self, draft, ctx):
        ctx.llm("Summarize:\\n\\n" + draft[:300])
        if ctx.iteration >= 2:
{body}
        return draft + "\\nChecked.\\n"

MECHANISM = Turning
""")
    run = live_run(tmp_path, {"turning": turning}, iterations=4, stop_after_step=1, domain="text:example")
    assert run.active_at_end() == ["turning"]  # interrupted after step 1, the stage still live
    run.resume_and_report()
    assert run.rolled_back() == {"turning": (2, says)}
    assert run.active_at_end() == []
    events = run.events()
    assert [e.status for e in events if e.kind == "trial"] == ["ok"] * 5  # every step still judged a draft
    asked = [(e.iteration, e.call) for e in events if e.kind == "mechanism_llm"]
    answered_at_2 = [(2, c) for c in range(1, MAX_LLM_CALLS + 1)] if "over-budget" in says else [(2, 1)]
    assert asked == [(1, 1), *answered_at_2]
    book = DraftBook(run.run_dir)
    first, second = book.meta(1), book.meta(2)
    assert first is not None and "mechanism:turning" in first.stages  # before the interruption
    assert second is not None and "mechanism:turning" not in second.stages and second.edits  # revised without it


PROBE = MechanismSource.from_text("""import os, socket


class Probe:
    name = "probe"
    position = "after:revision"

    def __init__(self):
        self.report = {}

    def stage(self, draft, ctx):
        answer = ctx.llm("Rewrite the opening.\\n\\n" + draft.split("\\n\\n")[1], system="plain words", max_tokens=64)
        tried = {}
        for host in ("127.0.0.1", "172.17.0.1", "PORT_HOST"):
            try:
                socket.create_connection((host, PORT), timeout=2).close()
                tried[host] = "connected"
            except OSError as exc:
                tried[host] = type(exc).__name__
        self.report = {"answer": answer, "env": sorted(os.environ), "values": " ".join(os.environ.values()),
                       "interfaces": [name for _, name in socket.if_nameindex()], "connect": tried}
        return draft

    def state_dict(self):
        return {"report": self.report}

    def load_state_dict(self, state):
        self.report = dict(state["report"])


MECHANISM = Probe
""")


def test_with_the_model_a_stage_in_its_container_gets_the_answer_priced_and_recorded_and_holds_no_key(
        tmp_path: Path, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.responder = StageModel()
    monkeypatch.setenv("FAKE_KEY", KEY)
    host, port = fake.base_url.split("//")[1].split("/")[0].split(":")
    probe = MechanismSource.from_text(PROBE.text().replace("PORT_HOST", host).replace("PORT", port))
    settings = LLMSettings(provider="fake", model="fake-model", base_url=fake.base_url, api_key_env="FAKE_KEY",
                           price="1,2")
    run = live_run(tmp_path, {"probe": probe}, iterations=2, domain="text:example", agent="llm", llm=settings)
    report = run.final_states()["probe"]["report"]
    asked = [r for r in fake.requests if is_mechanism_request(r)]
    assert len(asked) == 2 and report["answer"] == model_answer(asked[-1])  # the answer reached the stage
    assert quoted(user_of(asked[0]), "request").startswith("Rewrite the opening.\n\n")
    assert quoted(asked[0]["messages"][0]["content"], "instructions") == "plain words"  # quoted, not obeyed
    assert asked[0]["max_tokens"] == 64
    assert set(report["env"]) == set(WORKER_ENV) and KEY not in report["values"]  # no key in the container
    assert report["interfaces"] == ["lo"] and "connected" not in report["connect"].values()  # and no network
    entries = Cassette.in_run(run.run_dir).read()
    staged = [e for e in entries if e.purpose.startswith("level2/stage/")]
    traced = [e for e in run.events() if e.kind == "mechanism_llm"]
    assert [e.purpose for e in traced] == [e.purpose for e in staged] and len(staged) == 2
    assert [(e.origin, e.prompt_tokens, e.completion_tokens, e.cost_usd) for e in traced] == [
        ("live", 100, 20, (100 * 1 + 20 * 2) / 1e6)] * 2
    assert [e.cost_usd for e in staged] == [e.cost_usd for e in traced]
    client = run.checkpoint().agent_state["client"]  # counted in the run's cost, which --max-cost bounds
    assert client["calls"] == len(entries) and client["cost_usd"] == pytest.approx(sum(e.cost_usd for e in entries))


def test_max_cost_spent_through_ctx_llm_stops_the_run_as_any_llm_spending_does(
        tmp_path: Path, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake.responder = StageModel(tokens=1_000_000)  # one ctx.llm call costs $1 at the price below
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    run_dir = tmp_path / "run"
    flags = ["--domain", "text:example", "--iterations", "3", "--mechanism", str(_stage_file(tmp_path, calls=2)),
             "--archive", str(tmp_path / "archive"), "--max-cost", "0.5", "--price", "1,1", "--no-progress"]
    assert main(["run", *flags, *_llm_flags(fake), "--run-dir", str(run_dir)]) == EXIT_FAILED
    said = capsys.readouterr().err
    assert "LLM budget spent" in said and "stopped before the next 'level2/stage/" in said and "--max-cost" in said
    asked = _events(run_dir, "mechanism_llm")
    assert [(e.iteration, e.call) for e in asked] == [(1, 1)]  # the second call of the stage was never made
    assert not _events(run_dir, "rollback") and not _events(run_dir, "run_finished")  # not the stage's fault
    assert json.loads((run_dir / "checkpoint.json").read_text())["status"] == "running"  # resumable
    calls = len(fake.requests)
    assert main(["resume", str(run_dir), "--no-progress"]) == EXIT_FAILED  # the same stop, from the cassette
    assert "stopped before the next 'level2/stage/" in capsys.readouterr().err
    assert len(fake.requests) == calls


def test_a_run_whose_level2_stage_calls_ctx_llm_replays_offline_to_the_same_decisions(
        tmp_path: Path, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.responder = StageModel()
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    common = ["--domain", "text:example", "--iterations", "5", "--levels", "1,2", "--level2-every", "2",
              "--no-progress"]
    live = tmp_path / "live"
    assert main(["run", *common, *_llm_flags(fake), "--archive", str(tmp_path / "a1"), "--run-dir", str(live)]) == 0
    first, second = _events(live, "research_session")
    assert [c["status"] for c in first.candidates] == ["rejected-smoke", "accepted"]
    # the second session repairs its way to the same source: the mechanism is not injected twice
    assert [c["status"] for c in second.candidates] == ["rejected-smoke", "accepted"]
    assert second.candidates[1]["id"] == first.candidates[1]["id"]
    assert second.candidates[1]["reason"] == "the same source as an active mechanism: nothing to inject"
    assert [e.mechanism for e in _events(live, "injection")] == [first.candidates[1]["id"]]
    repair = next(r for r in fake.requests if "repair round" in user_of(r))
    assert f"called ctx.llm more than {MAX_LLM_CALLS} times in one call" in user_of(repair)  # rejected at vetting
    asked = _events(live, "mechanism_llm")
    assert asked and {e.origin for e in asked} == {"live"} and {e.hook for e in asked} == {"stage"}
    purposes = [e.purpose for e in Cassette.in_run(live).read()]
    assert [p for p in purposes if p.startswith("level2/stage/")] == [e.purpose for e in asked]
    book = DraftBook(live)
    assert any(MODEL_SAYS in book.text(n) for n in book.numbers())  # the model's answers reached the drafts

    fake.stop()  # no server: every exchange, ctx.llm's included, must come from the cassette
    replayed = tmp_path / "replayed"
    assert main(["run", *common, "--agent", f"replay:{live}", "--archive", str(tmp_path / "a2"),
                 "--run-dir", str(replayed)]) == 0

    def decisions(run_dir: Path) -> list[tuple]:
        events = RunStore.open(run_dir).events()
        return [(e.step, e.params, e.status, e.value, e.metrics) for e in events if e.kind == "trial"] + \
            [(e.step, e.accepted) for e in events if e.kind == "decision"]

    assert decisions(replayed) == decisions(live)
    again = _events(replayed, "mechanism_llm")
    assert [(e.iteration, e.call, e.answer) for e in again] == [(e.iteration, e.call, e.answer) for e in asked]
    assert {e.origin for e in again} == {"cassette"}
    for n in book.numbers():
        assert DraftBook(replayed).text(n) == book.text(n)
