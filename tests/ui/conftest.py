"""Fixtures of the dashboard tests: runs made with the real CLI, `evolve ui` started as a process,
and Debian's headless chromium driven by Selenium (no browser download: both paths are given).

Locally a missing chromium, chromedriver or selenium skips the browser tests; with CI=true it fails them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ui_support import BENCH, CHROMEDRIVER, CHROMIUM, FILE_NAME, SCRIPT_NAME, SPEC, WAIT_S, Level2Run

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.outer.research.recipes import get_recipe, recipe_source


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the dashboard's browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def _evolve(*args: str) -> None:
    code = main(list(args))
    assert code == 0, f"evolve {' '.join(args)} exited {code}"


@pytest.fixture(scope="session")
def level2_run(tmp_path_factory: pytest.TempPathFactory, sandbox_ready: None) -> Level2Run:
    """Levels 1, 1.5 and 2 on Branin, with a user mechanism whose names are markup: two research
    sessions, the second of which repairs a rejected candidate (a child with a parent to diff)."""
    root = tmp_path_factory.mktemp("level2")
    source = recipe_source(get_recipe("tabu")).decode()
    assert 'name = "tabu-search"' in source
    mechanism = root / f"{FILE_NAME}.py"
    mechanism.write_text(source.replace('name = "tabu-search"', f'name = "{SCRIPT_NAME}"'))
    run_dir, archive = root / "run", root / "archive"
    _evolve("run", "--domain", "function:branin", "--iterations", "20", "--levels", "1,1.5,2", "--seed", "0",
            "--run-dir", str(run_dir), "--archive", str(archive), "--mechanism", str(mechanism), "--no-progress")
    return Level2Run(run_dir, archive)


@pytest.fixture(scope="session")
def command_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A command domain whose program crashes for some points: mixed statuses and a log per trial (its
    search trials all crash, so fail-fast is off: the run must go on to have something to show)."""
    root = tmp_path_factory.mktemp("command")
    (root / "bench.py").write_text(BENCH)
    (root / "spec.json").write_text(SPEC)
    run_dir = root / "run"
    _evolve("run", "--domain", f"command:{root / 'spec.json'}", "--iterations", "6", "--seed", "0",
            "--run-dir", str(run_dir), "--no-progress", "--fail-fast", "0")
    return run_dir


@pytest.fixture(scope="session")
def ablation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ablation") / "out"
    _evolve("ablate", "--domain", "function:branin", "--groups", "A,B", "--repeats", "2", "--iterations", "6",
            "--noise-sd", "0.5", "--out", str(out), "--archive", str(out.parent / "archive"), "--no-progress")
    return out


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            _unavailable(f"{path} is missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1400"):
        options.add_argument(arg)
    options.unhandled_prompt_behavior = "ignore"
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    # Record every alert() instead of showing it: a page that ran injected markup would call it.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
        "source": "window.__alerts = []; window.alert = (m) => { window.__alerts.push(String(m)); };"})
    yield driver
    driver.quit()


@pytest.fixture
def page(browser: Any) -> Callable[[str], Any]:
    """Open a URL and wait until the page has drawn the data once."""
    from selenium.webdriver.support.ui import WebDriverWait

    def open_page(url: str) -> Any:
        browser.get(url)
        WebDriverWait(browser, WAIT_S).until(lambda d: d.execute_script("return document.body.dataset.version"))
        return browser

    return open_page


