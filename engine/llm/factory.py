"""Build the run's LLMClient from command-line choices: live (recording) or replay of a recorded run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import structlog

from bilevel_evolve.engine.llm.cassette import CASSETTE_NAME, Cassette
from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.pricing import Price, price_for
from bilevel_evolve.engine.llm.providers import resolve_endpoint
from bilevel_evolve.engine.llm.tape import Tape
from bilevel_evolve.engine.llm.transport import OpenAITransport, RetryPolicy
from bilevel_evolve.ground.errors import RunDirError, UsageError

log = structlog.get_logger(__name__)


def build_llm_client(
    provider: str | None,
    model: str | None,
    base_url: str | None,
    api_key_env: str | None,
    max_cost_usd: float | None,
    run_dir: Path | None,
    replay_from: Path | None = None,
    *,
    price: Price | None = None,
    timeout_s: float = 120.0,
    retry: RetryPolicy | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> LLMClient:
    """The client for `--agent llm` (replay_from None) or `--agent replay:RUN_DIR`.

    Live: records every exchange to run_dir/cassette.jsonl (run_dir None records nothing).
    Replay: serves replay_from's cassette with no network and no key; model, temperature and
    max_tokens come from the recording, and served exchanges are copied into run_dir's cassette.
    """
    if max_cost_usd is not None and max_cost_usd <= 0:
        raise UsageError(f"--max-cost must be positive, got {max_cost_usd}", "e.g. --max-cost 2.50 (USD)")
    recorder = Cassette.in_run(run_dir) if run_dir is not None else None
    if replay_from is not None:
        return _replay_client(replay_from, recorder, model, max_cost_usd)
    endpoint = resolve_endpoint(provider, model, base_url, api_key_env, env=env, cwd=cwd)
    model_price = price_for(endpoint.model, price)
    if model_price is None and max_cost_usd is not None:
        raise UsageError(
            f"no price is known for model {endpoint.model!r}, so --max-cost cannot be enforced",
            "give its price with --price IN,OUT (USD per million input/output tokens)",
        )
    if model_price is None:
        log.warning("llm_price_unknown", model=endpoint.model, note="costs are counted as 0; pass a price")
    tape = Tape(
        live=OpenAITransport(endpoint, timeout_s=timeout_s, retry=retry),
        recorder=recorder,
        price=model_price,
    )
    return LLMClient(tape, model=endpoint.model, max_cost_usd=max_cost_usd, structured=endpoint.json_schema)


def cassette_path(replay_from: Path) -> Path:
    """Accept a run directory or the cassette file itself."""
    path = Path(replay_from)
    return path / CASSETTE_NAME if path.is_dir() else path


def _replay_client(
    replay_from: Path, recorder: Cassette | None, model: str | None, max_cost_usd: float | None
) -> LLMClient:
    source = Cassette(cassette_path(replay_from))
    entries = source.read()
    if not entries:
        raise RunDirError(
            f"nothing to replay: {source.path} holds no recorded LLM exchanges",
            "replay a run directory made with --agent llm (it has a non-empty cassette.jsonl)",
        )
    first = entries[0].request
    if model is not None and model != first.model:
        raise UsageError(
            f"--model {model} differs from the recorded run's model {first.model}",
            "leave out --model when replaying",
        )
    tape = Tape(live=None, recorder=recorder, source=source)
    return LLMClient(
        tape,
        model=first.model,
        max_cost_usd=max_cost_usd,
        temperature=first.temperature,
        max_tokens=first.max_tokens,
        structured=first.response_schema is not None,  # ask as the recorded run asked
    )
