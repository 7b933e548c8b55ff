"""Shared constants of the LLM tests (imported by name: tests/llm is put on sys.path by conftest)."""

from __future__ import annotations

from collections.abc import Callable

from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.pricing import Price
from bilevel_evolve.engine.llm.transport import RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=4, initial_wait_s=0.01, max_wait_s=0.05)
TEST_PRICE = Price(input_per_m=1.0, output_per_m=2.0)  # 100 in + 20 out tokens = $0.00014

ClientFactory = Callable[..., LLMClient]
