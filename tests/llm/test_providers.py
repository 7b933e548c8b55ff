"""Endpoint presets, API keys from the environment or ./.env, prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.engine.llm.dotenv import read_dotenv
from bilevel_evolve.engine.llm.factory import build_llm_client
from bilevel_evolve.engine.llm.pricing import PRICES, Price, parse_price, price_for
from bilevel_evolve.engine.llm.providers import resolve_endpoint
from bilevel_evolve.ground.errors import UsageError


def test_deepseek_preset_fills_url_model_and_key_variable(tmp_path: Path) -> None:
    ep = resolve_endpoint("deepseek", env={"DEEPSEEK_API_KEY": "sk-ds"}, cwd=tmp_path)
    assert (ep.base_url, ep.model, ep.api_key_env, ep.api_key) == (
        "https://api.deepseek.com",
        "deepseek-chat",
        "DEEPSEEK_API_KEY",
        "sk-ds",
    )
    assert "sk-ds" not in repr(ep) and "sk-ds" not in str(ep)


def test_openai_is_the_default_provider(tmp_path: Path) -> None:
    ep = resolve_endpoint(None, env={"OPENAI_API_KEY": "k"}, cwd=tmp_path)
    assert ep.provider == "openai" and ep.base_url.startswith("https://api.openai.com")
    assert ep.model in PRICES


def test_a_custom_base_url_needs_a_model_and_reads_the_named_variable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs a model name"):
        resolve_endpoint(None, None, "http://127.0.0.1:9/v1", "MY_KEY", env={"MY_KEY": "k"}, cwd=tmp_path)
    ep = resolve_endpoint(None, "llama", "http://127.0.0.1:9/v1", "MY_KEY", env={"MY_KEY": "k"}, cwd=tmp_path)
    assert (ep.provider, ep.model, ep.api_key) == ("custom", "llama", "k")


def test_a_missing_key_names_the_variable_and_the_offline_agent(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        resolve_endpoint("deepseek", env={}, cwd=tmp_path)
    message = str(err.value)
    assert "DEEPSEEK_API_KEY" in err.value.problem
    assert "export DEEPSEEK_API_KEY=" in message and ".env" in message and "--agent offline" in message
    assert err.value.exit_code == 2


def test_the_key_is_read_from_a_dotenv_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('# keys\nexport DEEPSEEK_API_KEY="sk-from-file"\nOTHER=1 # note\n')
    assert resolve_endpoint("deepseek", env={}, cwd=tmp_path).api_key == "sk-from-file"
    assert read_dotenv(tmp_path / ".env")["OTHER"] == "1"


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENAI_API_KEY=from-file\n")
    assert resolve_endpoint("openai", env={"OPENAI_API_KEY": "from-env"}, cwd=tmp_path).api_key == "from-env"


def test_an_unknown_provider_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown LLM provider 'anthropix'") as err:
        resolve_endpoint("anthropix", env={}, cwd=tmp_path)
    assert err.value.fix and "deepseek" in err.value.fix and "--base-url" in err.value.fix


def test_prices_come_from_the_table_unless_overridden() -> None:
    assert price_for("deepseek-chat") == PRICES["deepseek-chat"]
    assert price_for("deepseek-chat", Price(input_per_m=9, output_per_m=9)).input_per_m == 9
    assert price_for("unknown-model") is None
    assert PRICES["gpt-4o-mini"].cost_usd(1_000_000, 1_000_000) == pytest.approx(0.75)


def test_a_price_override_is_parsed_or_rejected_clearly() -> None:
    assert parse_price("0.27, 1.10") == Price(input_per_m=0.27, output_per_m=1.10)
    with pytest.raises(UsageError, match="is not 'IN,OUT'"):
        parse_price("cheap")


def test_a_non_positive_budget_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--max-cost must be positive"):
        build_llm_client("deepseek", None, None, None, 0.0, None, env={"DEEPSEEK_API_KEY": "k"}, cwd=tmp_path)


def test_any_other_provider_name_with_a_base_url_is_a_custom_endpoint(tmp_path: Path) -> None:
    ep = resolve_endpoint(
        "ollama", "qwen", "http://127.0.0.1:9/v1", "OLLAMA_KEY", env={"OLLAMA_KEY": "x"}, cwd=tmp_path
    )
    assert (ep.provider, ep.base_url, ep.model, ep.api_key_env) == (
        "ollama",
        "http://127.0.0.1:9/v1",
        "qwen",
        "OLLAMA_KEY",
    )


def test_a_preset_with_a_base_url_keeps_its_key_variable_and_model(tmp_path: Path) -> None:
    ep = resolve_endpoint("deepseek", None, "http://127.0.0.1:9/v1", None, env={"DEEPSEEK_API_KEY": "k"}, cwd=tmp_path)
    assert (ep.base_url, ep.model, ep.api_key_env) == ("http://127.0.0.1:9/v1", "deepseek-chat", "DEEPSEEK_API_KEY")
