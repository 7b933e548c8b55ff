from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_openai import FakeOpenAI  # noqa: E402

from engine.llm.client import LLMClient  # noqa: E402
from engine.llm.factory import build_llm_client  # noqa: E402
from engine.llm.pricing import Price  # noqa: E402
from engine.llm.transport import RetryPolicy  # noqa: E402

FAST_RETRY = RetryPolicy(max_attempts=4, initial_wait_s=0.01, max_wait_s=0.05)
TEST_PRICE = Price(input_per_m=1.0, output_per_m=2.0)  # 100 in + 20 out tokens = $0.00014


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


ClientFactory = Callable[..., LLMClient]


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
            None, "fake-model", fake.base_url, "FAKE_KEY", max_cost,  # type: ignore[arg-type]
            run_dir if run_dir is not None else tmp_path / "run", None, **options,  # type: ignore[arg-type]
        )

    return make
