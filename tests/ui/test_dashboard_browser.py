"""The dashboard in a real headless browser, over runs made with the real CLI."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest
from ui_support import FILE_NAME, SCRIPT_NAME, WAIT_S, Level2Run, copy_run_head, dashboard

from bilevel_evolve.engine.ablation.aggregate import summarize_ablation
from bilevel_evolve.engine.ablation.store import load_spec
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.llm.cassette import Cassette, CassetteEntry, ChatRequest, Usage
from bilevel_evolve.engine.reports.ablation_report import results_table
from bilevel_evolve.engine.run.events import TrialFinished
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.ui.ablation_view import markdown_table
from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = pytest.mark.slow


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _text(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def _trial_rows(driver: Any) -> list[Any]:
    return _css(driver, "#trials-table tbody tr")


def _trials(run_dir: Path) -> list[TrialFinished]:
    return [e for e in RunStore.open(run_dir).events() if isinstance(e, TrialFinished)]


def _reported_best(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
    found = re.search(r"│ best\s+│ (\S+)", capsys.readouterr().out)
    assert found, "evolve report printed no best row"
    return found.group(1)


def test_a_finished_run_shows_the_best_value_of_evolve_report(level2_run: Level2Run, page: Any,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    best = _reported_best(level2_run.run_dir, capsys)
    trials = _trials(level2_run.run_dir)
    with dashboard(str(level2_run.run_dir)) as url:
        driver = page(url)
        assert _text(driver, "best-value") == best
        assert _text(driver, "run-status") == "completed"
        assert len(_trial_rows(driver)) == len(trials)
        # the curve: every valued trial is a point, the best-so-far line spans them all, and each
        # injection and rollback is a labelled marker
        drawn = driver.execute_script("const g = document.getElementById('curve'); return "
                                      "[g.data[0].x.length + g.data[1].x.length, g.data[2].x.length, "
                                      "g.layout.annotations.map((a) => a.text)]")
        assert drawn[0] == sum(t.value is not None for t in trials) and drawn[1] == len(trials)
        events = RunStore.open(level2_run.run_dir).events()
        assert len(drawn[2]) == sum(e.kind in ("injection", "rollback") for e in events)
        # research sessions: the hypotheses each session weighed
        sessions = _css(driver, "#sessions-list .session")
        assert len(sessions) == sum(e.kind == "research_session" for e in events)
        assert "plateau" in sessions[0].text


def test_a_running_run_shows_new_trials_without_a_reload(level2_run: Level2Run, page: Any, tmp_path: Path) -> None:
    source = level2_run.run_dir
    lines = (source / "trace.jsonl").read_bytes().splitlines(keepends=True)
    trial_lines = [n for n, line in enumerate(lines) if b'"kind":"trial"' in line]
    live = tmp_path / "live"
    rest = copy_run_head(source, live, trial_lines[5] + 1)  # six trials so far, no checkpoint, not finished
    with dashboard(str(live), "--archive", str(level2_run.archive)) as url:
        driver = page(url)
        _wait(driver, lambda d: len(_trial_rows(d)) == 6)
        assert _text(driver, "run-status") == "running"
        driver.execute_script("window.__samePage = true;")  # gone if the page reloads
        half = (trial_lines[12] + 1) - (trial_lines[5] + 1)
        with (live / "trace.jsonl").open("ab") as trace:
            trace.writelines(rest[:half])
            trace.flush()
            _wait(driver, lambda d: len(_trial_rows(d)) == 13)
            trace.writelines(rest[half:])
        _wait(driver, lambda d: _text(d, "run-status") == "completed")
        assert len(_trial_rows(driver)) == len(trial_lines)
        assert driver.execute_script("return window.__samePage") is True
        assert _text(driver, "best-value") == _text_of_best(source)


def _text_of_best(run_dir: Path) -> str:
    best = min(t.value for t in _trials(run_dir) if t.value is not None)
    return f"{best:.6g}"


def _expected_diff(archive_dir: Path) -> tuple[str, str, list[str]]:
    """(child id, parent id, the unified diff) of the one repaired mechanism the run archived."""
    with Archive.open(archive_dir) as archive:
        child = next(s for s in archive.list() if s.parents)
        parent_id = child.parents[0]
        lines = difflib.unified_diff(archive.source(parent_id).text().splitlines(),
                                     archive.source(child.id).text().splitlines(),
                                     fromfile=f"{archive.get(parent_id).name} {parent_id[:12]}",
                                     tofile=f"{child.name} {child.id[:12]}", lineterm="")
        return child.id, parent_id, list(lines)


def test_a_mechanism_opens_with_its_diff_against_its_parent(level2_run: Level2Run, page: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    child, parent, expected = _expected_diff(level2_run.archive)
    assert expected, "the repaired mechanism should differ from its parent"
    with dashboard(str(level2_run.run_dir)) as url:
        driver = page(url)
        _css(driver, f'#mechanisms-table tr[data-id="{child}"]')[0].click()
        diff = _wait(driver, lambda d: _css(d, f'pre.diff[data-parent="{parent}"]'))[0]
        shown = [span.get_attribute("textContent") for span in diff.find_elements("tag name", "span")]
        assert shown == [line or " " for line in expected]
        assert "--- " in shown[0] and parent[:12] in shown[0]
        # the same from the lineage graph: click the parent's node, then follow the link to its child
        nodes = driver.execute_script("return document.getElementById('lineage').data[1].customdata")
        points = _css(driver, "#lineage .scatterlayer .trace:nth-child(2) path.point")
        ActionChains(driver).move_to_element(points[nodes.index(parent)]).click().perform()
        _wait(driver, lambda d: _css(d, "#mechanism-panel") and parent[:12] in _text(d, "mechanism-panel")
              and not _css(d, "pre.diff"))
        assert "no parent" in _text(driver, "mechanism-panel")


def test_markup_in_names_is_shown_as_text_and_never_run(level2_run: Level2Run, page: Any) -> None:
    with dashboard(str(level2_run.run_dir)) as driver_url:
        driver = page(driver_url)
        names = [cell.text for cell in _css(driver, "#mechanisms-table td.mech-name")]
        assert SCRIPT_NAME in names
        annotations = [a.get_attribute("textContent") for a in _css(driver, "#curve .annotation-text")]
        assert f"+ {SCRIPT_NAME}" in annotations
        labels = [t.get_attribute("textContent") for t in _css(driver, "#lineage .textpoint text")]
        assert FILE_NAME in labels
        row = next(r for r in _css(driver, "#mechanisms-table tbody tr") if SCRIPT_NAME in r.text)
        row.click()
        _wait(driver, lambda d: _css(d, "#mechanism-name"))
        assert _text(driver, "mechanism-name") == FILE_NAME  # the archive names it after its file
        assert driver.execute_script("return window.__alerts") == []
        injected = driver.execute_script(
            "return [...document.querySelectorAll('script')].filter((s) => s.textContent.includes('alert')).length"
            " + document.querySelectorAll('img').length")
        assert injected == 0


def test_the_trials_table_sorts_filters_and_shows_a_trials_log(command_run: Path, page: Any) -> None:
    from selenium.webdriver.support.ui import Select

    trials = _trials(command_run)
    crashed = [t for t in trials if t.status == "crashed"]
    assert crashed and len(crashed) < len(trials), "the fixture run should mix crashed and ok trials"
    with dashboard(str(command_run)) as url:
        driver = page(url)
        Select(_css(driver, "#status-filter")[0]).select_by_value("crashed")
        _wait(driver, lambda d: len(_trial_rows(d)) == len(crashed))
        assert {r.get_attribute("data-step") for r in _trial_rows(driver)} == {str(t.step) for t in crashed}
        Select(_css(driver, "#status-filter")[0]).select_by_value("all")
        _wait(driver, lambda d: len(_trial_rows(d)) == len(trials))
        _css(driver, '#trials-table th[data-key="status"]')[0].click()
        _wait(driver, lambda d: _trial_rows(d)[0].get_attribute("data-step") == str(crashed[0].step))
        _css(driver, '#trials-table th[data-key="status"]')[0].click()  # again: descending, "ok" first
        ok = next(t for t in trials if t.status == "ok")
        _wait(driver, lambda d: _trial_rows(d)[0].get_attribute("data-step") == str(ok.step))
        _css(driver, f'#trials-table tr[data-step="{crashed[0].step}"]')[0].click()
        logs = _wait(driver, lambda d: _css(d, "#trial-logs"))[0]
        assert "command.log" in logs.text and "diverged" in logs.text


def test_an_ablation_shows_its_groups_bands_and_report_table(ablation_dir: Path, page: Any) -> None:
    summary = summarize_ablation(load_spec(ablation_dir), ablation_dir)
    header, rows = markdown_table(results_table(summary))
    with dashboard(str(ablation_dir)) as url:
        driver = page(url)
        assert [c.text for c in _css(driver, "#ablation-table th")] == header
        shown = [[c.text for c in r.find_elements("tag name", "td")] for r in _css(driver, "#ablation-table tbody tr")]
        assert shown == rows
        fills = driver.execute_script("return document.getElementById('ablation-curves').data.map((t) => t.fill)")
        assert fills.count("tonexty") == len(summary.groups)  # one spread band per group
        _css(driver, '#ablation-runs a[href="?run=A-r1"]')[0].click()
        _wait(driver, lambda d: _text(d, "title") == "run A-r1" and _trial_rows(d))
        assert len(_trial_rows(driver)) == len(_trials(ablation_dir / "runs" / "A-r1"))


def test_an_archive_alone_lists_its_mechanisms(level2_run: Level2Run, page: Any) -> None:
    with Archive.open(level2_run.archive) as archive:
        ids = [s.id for s in archive.list()]
    with dashboard("--archive", str(level2_run.archive)) as url:
        driver = page(url)
        assert [r.get_attribute("data-id") for r in _css(driver, "#mechanisms-table tbody tr")] == ids


def test_the_models_prompts_and_answers_are_shown_as_text(command_run: Path, page: Any, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    copy_run_head(command_run, run_dir, len((command_run / "trace.jsonl").read_bytes().splitlines()))
    answer = '{"code": "<img src=x onerror=alert(3)>"}'
    Cassette.in_run(run_dir).append(CassetteEntry(
        seq=1, purpose="level2/explore", request_hash="0" * 64,
        request=ChatRequest(model="m", messages=({"role": "user", "content": "Round 1 of 4: <b>hypotheses</b>"},)),
        response=answer, usage=Usage(), cost_usd=0.0, latency_s=0.5, attempts=1, recorded_at="2026-01-01T00:00:00Z"))
    with dashboard(str(run_dir)) as url:
        driver = page(url)
        exchange = _wait(driver, lambda d: _css(d, "#sessions-list details.exchange"))[0]
        exchange.find_element("tag name", "summary").click()
        shown = [p.text for p in exchange.find_elements("tag name", "pre")]
        assert shown == ["Round 1 of 4: <b>hypotheses</b>", answer]
        assert driver.execute_script("return window.__alerts") == []
