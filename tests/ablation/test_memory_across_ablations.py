"""`evolve ablate` twice on one archive: the first proves what helps; the second's runs read the archive as
it stood when that one began, recall its best points, reuse what it proved, and its report shows them with
their intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = [pytest.mark.usefixtures("sandbox_ready"), pytest.mark.slow]


def _ablate(out: Path, archive: Path) -> int:
    return main(["ablate", "--domain", "function:ackley", "--groups", "D", "--repeats", "3", "--iterations", "16",
                 "--archive", str(archive), "--out", str(out), "--workers", "3", "--no-progress"])


def test_a_second_ablation_reuses_what_the_first_proved_and_reports_it(tmp_path: Path) -> None:
    archive_dir = tmp_path / "archive"
    assert _ablate(tmp_path / "first", archive_dir) == 0
    first = (tmp_path / "first" / "report.md").read_text()
    assert "## Mechanisms reused from the archive" not in first  # a fresh archive: nothing to reuse
    for repeat in (1, 2, 3):  # runs of one ablation never recall each other's points: one horizon
        events = RunStore.open(tmp_path / "first" / "runs" / f"D-r{repeat}").events()
        assert not any(e.kind == "research_session" and e.chosen.startswith("recall") for e in events)
    with Archive.open(archive_dir) as archive:
        proven = {s.id: s for s in archive.list() if any(e.proven and e.sign == "positive" for e in s.estimates)}
        horizon = archive.last_event()
    assert proven, "the first ablation proved nothing on ackley (see its report's effects table)"

    assert _ablate(tmp_path / "second", archive_dir) == 0
    spec = json.loads((tmp_path / "second" / "ablation.json").read_text())
    assert spec["options"]["archive_horizon"] == horizon
    for repeat in (1, 2, 3):
        run = tmp_path / "second" / "runs" / f"D-r{repeat}"
        config = RunStore.open(run).config()
        assert config.run_id == f"D-r{repeat}-2" and config.archive_horizon == horizon  # the first's are taken
        reused = [c["id"] for e in RunStore.open(run).events() if e.kind == "research_session"
                  for c in e.candidates if c.get("reused")]
        assert reused and set(reused) <= set(proven)
        recall = next(e for e in RunStore.open(run).events() if e.kind == "research_session")
        assert recall.chosen.startswith("recall") and recall.iteration == 1  # the first's best points, first
        assert {r["run"] for r in recall.candidates[0]["recalled"]} <= {"D-r1", "D-r2", "D-r3"}
    report = (tmp_path / "second" / "report.md").read_text()
    section = report.split("## Mechanisms reused from the archive", 1)[1].split("\n## ", 1)[0]
    for repeat in (1, 2, 3):
        row = next(line for line in section.splitlines() if line.startswith(f"| {repeat} | D-r{repeat} |"))
        assert any(s.short_id in row for s in proven.values()) and "over 3 runs" in row and "[+" in row
    assert "## Effects across runs on function:ackley" in report and "proven positive" in report
