"""The dashboard's views of a run directory, without a server or a browser."""

from __future__ import annotations

from pathlib import Path

from bilevel_evolve.engine.llm.cassette import CassetteEntry, ChatRequest, Usage
from bilevel_evolve.engine.run.events import ResearchSessionEvent, TrialFinished
from bilevel_evolve.engine.ui.ablation_view import markdown_table
from bilevel_evolve.engine.ui.sessions import research_sessions
from bilevel_evolve.engine.ui.trial_files import trial_files


def _exchange(seq: int, purpose: str) -> CassetteEntry:
    return CassetteEntry(seq=seq, purpose=purpose, request_hash="0" * 64,
                         request=ChatRequest(model="m", messages=({"role": "user", "content": f"ask {seq}"},)),
                         response=f"answer {seq}", usage=Usage(), cost_usd=0.0, latency_s=0.1, attempts=1,
                         recorded_at="2026-01-01T00:00:00Z")


def _session(n: int, source: str) -> ResearchSessionEvent:
    return ResearchSessionEvent(step=8 * n, iteration=8 * n, session_id=f"r/s{n}", source=source, diagnosis={},
                                hypotheses=({"bottleneck": "plateau", "idea": "anneal"},), chosen="plateau",
                                candidates=())


def test_each_llm_session_gets_the_level2_exchanges_from_its_round_one_on() -> None:
    exchanges = [_exchange(1, "propose"), _exchange(2, "level2/explore"), _exchange(3, "level2/specify"),
                 _exchange(4, "level2/generate"), _exchange(5, "level15"), _exchange(6, "level2/explore"),
                 _exchange(7, "level2/explore/repair"), _exchange(8, "level2/explore")]
    trial = TrialFinished(step=0, iteration=0, params={}, status="ok", value=1.0, duration_s=0.0, source="baseline")
    sessions = research_sessions([trial, _session(1, "llm"), _session(2, "offline-recipe"), _session(3, "llm")],
                                 exchanges)
    assert [s["session_id"] for s in sessions] == ["r/s1", "r/s2", "r/s3", "(not in the trace)"]
    assert [[x["seq"] for x in s["exchanges"]] for s in sessions] == [[2, 3, 4], [], [6, 7], [8]]
    assert sessions[0]["exchanges"][0]["messages"] == [{"role": "user", "content": "ask 2"}]
    assert sessions[0]["exchanges"][0]["response"] == "answer 2"


def test_the_report_table_is_read_cell_by_cell() -> None:
    header, rows = markdown_table("| group | levels |\n|---|---|\n| A | 1 |\n| B | 1+1.5 |")
    assert header == ["group", "levels"]
    assert rows == [["A", "1"], ["B", "1+1.5"]]


def test_a_trials_folder_shows_the_tails_of_its_text_files_and_never_follows_a_link(tmp_path: Path) -> None:
    folder = tmp_path / "trials" / "00003"
    folder.mkdir(parents=True)
    (folder / "train.log").write_text("x" * 10_000 + "the end\n")
    (folder / "weights.bin").write_bytes(b"\0" * 10)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the page")
    (folder / "link.log").symlink_to(secret)
    shown = trial_files(tmp_path, 3)
    files = {f["name"]: f for f in shown["files"]}
    assert set(files) == {"train.log", "weights.bin"}
    assert files["train.log"]["tail"].endswith("the end\n") and files["train.log"]["truncated"]
    assert files["weights.bin"]["tail"] is None
    assert trial_files(tmp_path, 4)["files"] == []
