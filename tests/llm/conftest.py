from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_openai import FakeOpenAI
from llm_support import FAST_RETRY, TEST_PRICE, ClientFactory

from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.factory import build_llm_client


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def make_client(fake: FakeOpenAI, tmp_path: Path) -> ClientFactory:
    """A live client against the fake server, recording into tmp_path/run (or a given run_dir)."""

    def make(run_dir: Path | None = None, **kw: object) -> LLMClient:
        options: dict[str, object] = {
            "price": TEST_PRICE,
            "timeout_s": 2.0,
            "retry": FAST_RETRY,
            "env": {"FAKE_KEY": "sk-test"},
            "cwd": tmp_path,
        }
        options.update(kw)
        max_cost = options.pop("max_cost_usd", None)
        return build_llm_client(
            None,
            "fake-model",
            fake.base_url,
            "FAKE_KEY",
            max_cost,  # type: ignore[arg-type]
            run_dir if run_dir is not None else tmp_path / "run",
            None,
            **options,  # type: ignore[arg-type]
        )

    return make
