"""Level 2 of a text run: generated pipeline stages, vetted gate -> box, archived, run in the mechanism host at
their position, and rolled back when they fail, the draft going on as it was (real Docker)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.text.stages import stage_position
from bilevel_evolve.ground.contract.returns import check_stage
from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = pytest.mark.usefixtures("sandbox_ready")

STAGE = '''
class BadStage:
    name = "bad-stage"
    position = "POSITION"

    def stage(self, draft, ctx):
        if len(draft) < 1000:  # the smoke test's draft is short: it passes there, and fails on the article
            return draft
        BODY


MECHANISM = BadStage
'''


def _stage_file(tmp_path: Path, body: str, position: str = "after:revision") -> Path:
    path = tmp_path / "stage.py"
    path.write_text(STAGE.replace("BODY", body).replace("POSITION", position))
    return path


def test_an_offline_run_at_every_level_writes_a_stage_rolls_one_back_and_raises_the_score(tmp_path: Path) -> None:
    run_dir, archive_dir = tmp_path / "run", tmp_path / "archive"
    assert main(["run", "--domain", "text:example", "--iterations", "17", "--levels", "1,1.5,2",
                 "--run-dir", str(run_dir), "--archive", str(archive_dir), "--no-progress"]) == 0
    events = RunStore.open(run_dir).events()
    rolled = [e for e in events if e.kind == "rollback"]
    assert [(e.name, e.status) for e in rolled] == [("stage_readability", "rejected-smoke")]
    injected = [e for e in events if e.kind == "injection"]
    assert [e.name for e in injected] == ["plain-words-stage", "model-rewrite-stage"]
    # the second session's stage asks the model through ctx.llm: offline, the deterministic stand-in answers
    asked = [e for e in events if e.kind == "mechanism_llm"]
    assert asked and {(e.mechanism, e.hook, e.origin, e.cost_usd) for e in asked} == {
        (injected[1].mechanism, "stage", "offline", 0.0)}
    assert [e.iteration for e in asked] == list(range(injected[1].iteration, 18))
    with Archive.open(archive_dir) as archive:
        record = archive.get(injected[0].mechanism)
        assert record.status == "accepted" and record.parents == (rolled[0].mechanism,)
    calls = [e for e in events if e.kind == "hook" and e.hook == "stage"]
    assert calls and any(c.changed for c in calls)
    assert set(calls[0].args["draft"]) == {"chars", "sha256"}  # the trace keeps a digest; the draft book the text
    book = DraftBook(run_dir)
    after = [book.meta(t.params["draft"]) for t in events if t.kind == "trial" and t.step > injected[0].step]
    assert after and all(m is not None and "mechanism:plain-words-stage" in m.stages for m in after)
    trials = [e for e in events if e.kind == "trial"]
    assert max(t.value for t in trials if t.value is not None) > trials[0].value + 3
    # its one parameter numbers a draft of this run: it leaves no result for a later run to recall
    index = sqlite3.connect(archive_dir / "index.sqlite")
    assert index.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0
    index.close()


@pytest.mark.parametrize(("body", "says"), [
    ("return 42", "expected the revised draft as a str"),
    ("return 'x' * (10 * 1024 * 1024)", "bytes"),
    ("raise RuntimeError('the stage broke')", "the stage broke"),
    ("return ''", "empty draft"),
])
def test_a_stage_that_fails_in_the_run_is_rolled_back_and_nothing_is_lost(tmp_path: Path, body: str,
                                                                           says: str) -> None:
    run_dir, stage = tmp_path / "run", _stage_file(tmp_path, body)
    assert main(["run", "--domain", "text:example", "--iterations", "3", "--mechanism", str(stage),
                 "--archive", str(tmp_path / "archive"), "--run-dir", str(run_dir), "--no-progress"]) == 0
    events = RunStore.open(run_dir).events()
    rollback = next(e for e in events if e.kind == "rollback")
    assert rollback.name == "bad-stage" and rollback.status == "rolled-back" and says in rollback.reason
    assert rollback.step == 1  # its first call on the article
    trials = [e for e in events if e.kind == "trial"]
    assert [t.status for t in trials] == ["ok"] * 4  # every step still judged a draft
    book = DraftBook(run_dir)
    first = book.meta(1)
    assert first is not None and first.edits and "mechanism:bad-stage" not in first.stages
    assert trials[1].value > trials[0].value  # the revision before the stage was kept


def test_a_stage_runs_at_the_position_it_names(tmp_path: Path) -> None:
    stage = _stage_file(tmp_path, "return draft + '\\nMarked.\\n'", position="before:analysis")
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", "text:example", "--iterations", "2", "--mechanism", str(stage),
                 "--archive", str(tmp_path / "archive"), "--run-dir", str(run_dir), "--no-progress"]) == 0
    meta = DraftBook(run_dir).meta(1)
    assert meta is not None and meta.stages[0] == "mechanism:bad-stage"
    checkpoint = json.loads((run_dir / "checkpoint.json").read_text())
    assert [m["name"] for m in checkpoint["extra"]["mechanisms"]] == ["bad-stage"]


def test_a_stages_position_is_read_from_its_source_and_defaults_after_the_revision() -> None:
    assert stage_position(STAGE.replace("POSITION", "before:planning").replace("BODY", "pass")) == "before:planning"
    assert stage_position(STAGE.replace("POSITION", "somewhere").replace("BODY", "pass")) == "after:revision"
    assert stage_position("class A:\n    pass\nMECHANISM = A\n") == "after:revision"
    assert stage_position("not python (") == "after:revision"


def test_what_a_stage_may_return() -> None:
    assert check_stage("# A draft\n", {}) == []
    assert check_stage(42, {})[0].startswith("hook stage returned 42")
    assert "empty" in check_stage("  \n", {})[0]
    assert "at most" in check_stage("x" * (65 * 1024), {})[0]
