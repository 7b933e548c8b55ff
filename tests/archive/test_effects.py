"""Effects across runs: each run's score pooled per domain and space into a mean with a 95 % t interval;
proven only with at least three runs and an interval that excludes zero."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from archive_support import add, run_archive_cli

from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.effects import interval, scope_of, t_quantile
from bilevel_evolve.mechanism_archive.models import PROVEN_RUNS

BRANIN = {"x1": {"type": "float", "low": -5.0, "high": 10.0, "default": 0.0},
          "x2": {"type": "float", "low": 0.0, "high": 15.0, "default": 0.0}}
HERE = scope_of("function:branin", BRANIN)


def _effect(archive: Archive, mid: str, run: str, score: float | None, scope: object = HERE) -> None:
    payload: dict[str, object] = {"delta": -0.1, "verdict": "improved", "score": score}
    if scope is not None:
        payload["scope"] = scope.to_json() if hasattr(scope, "to_json") else scope
    archive.record_effect(mid, run_id=run, effect=payload)


def test_the_interval_is_students_t_at_95_percent() -> None:
    mean, low, high = interval([1.0, 2.0, 3.0])
    half = 4.303 / math.sqrt(3)  # t(0.975, 2) x sd 1 / sqrt(3)
    assert mean == 2.0 and low == pytest.approx(2.0 - half) and high == pytest.approx(2.0 + half)
    assert interval([0.4]) == (0.4, None, None)  # one run: a hint, no interval
    assert t_quantile(35) == t_quantile(30) > t_quantile(40) and t_quantile(10_000) == 1.96


def test_a_mechanism_is_proven_only_with_three_runs_whose_interval_excludes_zero(archive: Archive) -> None:
    steady = add(archive, "steady").id
    for run, score in (("r1", 0.30), ("r2", 0.32)):
        _effect(archive, steady, run, score)
    (two,) = archive.get(steady).summary.estimates
    assert two.runs == 2 and two.low is not None and two.low > 0 and not two.proven  # two runs prove nothing
    _effect(archive, steady, "r3", 0.31)
    (three,) = archive.get(steady).summary.estimates
    assert three.runs == PROVEN_RUNS and three.proven and three.sign == "positive"
    assert "proven" in three.describe() and "3 runs" in three.describe()

    mixed = add(archive, "mixed").id
    for run, score in (("r1", 0.5), ("r2", -0.4), ("r3", 0.2)):
        _effect(archive, mixed, run, score)
    (straddling,) = archive.get(mixed).summary.estimates
    assert straddling.low is not None and straddling.low < 0 < (straddling.high or 0) and not straddling.proven

    harmful = add(archive, "harmful").id
    for run, score in (("r1", -0.2), ("r2", -0.25), ("r3", -0.22)):
        _effect(archive, harmful, run, score)
    assert archive.get(harmful).summary.estimates[0].sign == "negative"


def test_one_window_of_one_run_is_a_hint(archive: Archive) -> None:
    mid = add(archive, "once").id
    _effect(archive, mid, "r1", 2.0)
    (hint,) = archive.get(mid).summary.estimates
    assert hint.runs == 1 and hint.low is None and not hint.proven and "a hint" in hint.describe()


def test_estimates_are_kept_per_domain_and_space_and_a_run_counts_once(archive: Archive) -> None:
    mid = add(archive, "m").id
    moved = {**BRANIN, "x2": {**BRANIN["x2"], "high": 20.0}}
    other = scope_of("function:branin", moved)
    assert other.signature != HERE.signature and other.shape == HERE.shape  # a similar space, not the same
    for run in ("r1", "r2", "r3"):
        _effect(archive, mid, run, 0.1)
    _effect(archive, mid, "r3", 0.4)  # the run's later record of the effect replaces its earlier one
    _effect(archive, mid, "r4", -0.3, other)
    by_space = {e.space_signature: e for e in archive.get(mid).summary.estimates}
    assert by_space[HERE.signature].runs == 3 and by_space[HERE.signature].mean == pytest.approx(0.2)
    assert by_space[other.signature].runs == 1


def test_an_effect_without_score_or_scope_counts_nowhere(archive: Archive) -> None:
    mid = add(archive, "old").id
    _effect(archive, mid, "r1", None)  # an effect recorded before scores existed
    _effect(archive, mid, "r2", 0.3, scope=None)  # one that does not say where it was measured
    _effect(archive, mid, "r3", float("nan"))
    record = archive.get(mid)
    assert record.summary.estimates == () and len(record.effects) == 3


def test_estimates_up_to_a_horizon_leave_later_runs_out(archive: Archive) -> None:
    mid = add(archive, "m").id
    for run in ("r1", "r2", "r3"):
        _effect(archive, mid, run, 0.3)
    horizon = archive.last_event()
    _effect(archive, mid, "r4", -5.0)
    assert [e.runs for e in archive.estimates(up_to=horizon)] == [3]
    assert [e.runs for e in archive.estimates()] == [4]


def test_a_run_claims_a_unique_id_and_the_horizon_it_starts_from(archive: Archive) -> None:
    first = archive.claim_run("C-r1", scope=HERE)
    assert (first.run_id, first.horizon) == ("C-r1", 0)
    mid = add(archive, "m", run_id="legacy").id  # a run known only by its events
    archive.record_effect(mid, run_id="C-r1", effect={"delta": 0.0})
    second = archive.claim_run("C-r1", scope=HERE)
    assert second.run_id == "C-r1-2" and second.horizon == archive.last_event() == 2
    assert archive.claim_run("legacy").run_id == "legacy-2"
    assert archive.claim_run("C-r1").run_id == "C-r1-3"


def test_list_show_and_the_html_export_print_runs_mean_and_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                    ) -> None:
    root = tmp_path / "archive"
    with Archive.open(root, create=True) as archive:
        mid = add(archive, "m", name="steady").id
        for run, score in (("r1", 0.30), ("r2", 0.32), ("r3", 0.31)):
            _effect(archive, mid, run, score)
        child = add(archive, "c", name="child", parents=(mid,)).id
    assert run_archive_cli(["archive", "--archive", str(root), "list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if mid[:12] in x)
    assert "+0.31 [+0.285, +0.335] over 3 runs, proven" in line
    assert run_archive_cli(["archive", "--archive", str(root), "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["estimates"][0]["proven"] is True and listed[1]["generation"] == 1
    assert run_archive_cli(["archive", "--archive", str(root), "show", mid[:10], "--no-source"]) == 0
    out = capsys.readouterr().out
    assert "effect across runs" in out and "function:branin" in out and "proven positive" in out
    assert run_archive_cli(["archive", "--archive", str(root), "lineage", child[:10]]) == 0
    assert "gen 1" in capsys.readouterr().out
    assert run_archive_cli(["archive", "--archive", str(root), "export", "--format", "html", "--out",
                            str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "mechanisms" / f"{mid}.html").read_text()
    assert "Effect across runs" in page and "[+0.285, +0.335]" in page and "proven positive" in page


def test_a_run_stopped_before_it_wrote_anything_gets_its_claim_back(archive: Archive) -> None:
    first = archive.claim_run("C-r1", token="/abl/runs/C-r1")
    assert archive.claim_run("C-r1", token="/abl/runs/C-r1") == first  # killed before its first event
    other = archive.claim_run("C-r1", token="/other/runs/C-r1")
    assert other.run_id == "C-r1-2"
    add(archive, "m", run_id="C-r1")  # now the first one wrote something: a new run there is another run
    assert archive.claim_run("C-r1", token="/abl/runs/C-r1").run_id == "C-r1-3"
    assert archive.claim_run("C-r1", token="/other/runs/C-r1") == other
