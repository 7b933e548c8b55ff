"""`evolve report ABLATION_DIR`: the paper-style table from the runs' traces, PNGs, lineage."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_writes_the_table_plots_and_numbers_taken_from_the_traces(
        tmp_path: Path, objective: Path, ablate, trace, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "abl"
    assert ablate(objective, out, groups="A,B", repeats=2, iterations=4, baselines="random") == 0
    (out / "report.md").unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "mean change" in capsys.readouterr().out
    text = (out / "report.md").read_text()
    assert "| group | levels | runs | mean change ± sd | vs A |" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert {"A", "B", "random search"} <= set(rows)
    assert "| 1x |" in rows["A"] and "| 2/2 |" in rows["random search"]
    for name in ("group-A", "group-B", "group-random", "groups"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"](plots/{name}.png)" in text

    changes = []
    for repeat in (1, 2):
        values = [e["value"] for e in trace(out / "runs" / f"random-r{repeat}") if e["kind"] == "trial"]
        changes.append(min(values) - values[0])
    summary = json.loads((out / "summary.json").read_text())
    random_row = next(g for g in summary["groups"] if g["label"] == "random")
    assert random_row["mean_change"] == pytest.approx(statistics.fmean(changes))
    assert random_row["sd_change"] == pytest.approx(statistics.stdev(changes))
    a_row = next(g for g in summary["groups"] if g["label"] == "A")
    assert random_row["ratio_vs_a"] == pytest.approx(random_row["mean_change"] / a_row["mean_change"])
    assert a_row["mean_evaluations"] == 5


def test_report_counts_an_unfinished_run_and_says_so(tmp_path: Path, objective: Path,
                                                    ablate) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "abl"
    assert ablate(objective, out, groups="A", repeats=2, iterations=3, baselines="") == 0
    checkpoint = out / "runs" / "A-r2" / "checkpoint.json"
    raw = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({**raw, "status": "running"}))
    lines = (out / "runs" / "A-r2" / "trace.jsonl").read_text().splitlines()
    (out / "runs" / "A-r2" / "trace.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # drop run_finished
    assert main(["report", str(out)]) == 0
    assert "not finished yet (counted with the trials they have): A-r2" in (out / "report.md").read_text()


def test_report_of_an_ablation_without_trials_says_how_to_continue(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                   objective: Path) -> None:
    from bilevel_evolve.engine.ablation.spec import AblationSpec
    from bilevel_evolve.engine.ablation.store import open_or_create

    out = tmp_path / "abl"
    open_or_create(out, AblationSpec(domain=f"function:{objective}", groups=("A",), repeats=1, iterations=2,
                                     archive=str(tmp_path / "archive")))
    assert main(["report", str(out)]) == 2
    assert "repeating the `evolve ablate` command" in capsys.readouterr().err


@pytest.mark.docker
@pytest.mark.slow
def test_group_c_counts_injections_and_rollbacks_from_its_trace(tmp_path: Path, objective: Path, ablate,
                                                                 trace) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "abl"
    assert ablate(objective, out, "--level15-every", "3", "--level2-every", "4", groups="C", repeats=1,
                  iterations=12, baselines="") == 0
    events = trace(out / "runs" / "C-r1")
    injected = [e for e in events if e["kind"] == "injection"]
    removed = [e for e in events if e["kind"] == "rollback"]
    assert injected, "the offline scientist injects at least one mechanism in 3 sessions"
    c = next(g for g in json.loads((out / "summary.json").read_text())["groups"] if g["label"] == "C")
    assert (c["injected"], c["rolled_back"]) == (len(injected), len(removed))
    assert c["rejected"] == sum(1 for e in removed if e["status"].startswith("rejected"))
    text = (out / "report.md").read_text()
    assert "## Mechanism lineage per repeat" in text
    lineage_row = next(line for line in text.splitlines() if line.startswith("| 1 | C-r1 |"))
    for e in injected:
        assert f"{e['name']} `{e['mechanism'][:12]}` ({e['step']})" in lineage_row
    for e in removed:
        assert f"{e['name']} ({e['step']}, {e['status']}" in lineage_row
