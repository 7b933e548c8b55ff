"""Build the Level 1 proposer named by the run's configuration (and the LLM client it shares)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bilevel_evolve.engine.agents.base import Agent
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import UsageError

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.briefing import Briefing
    from bilevel_evolve.engine.llm.client import LLMClient

AGENT_FORMS = "offline | llm | replay:RUN_DIR | random | optuna"
BASELINE_AGENTS = ("random", "optuna")  # search baselines, no LLM


def build_llm_for(config: RunConfig, run_dir: Path) -> LLMClient | None:
    """The run's one LLM client (all levels share it, so one cassette holds every exchange)."""
    kind = config.agent
    if kind == "offline" or kind in BASELINE_AGENTS:
        return None
    if kind == "llm" or kind.startswith("replay:"):
        from bilevel_evolve.engine.llm.factory import build_llm_client
        from bilevel_evolve.engine.llm.pricing import parse_price

        replay_from = Path(kind.split(":", 1)[1]) if kind.startswith("replay:") else None
        s = config.llm
        return build_llm_client(provider=s.provider, model=s.model, base_url=s.base_url,
                                api_key_env=s.api_key_env, max_cost_usd=s.max_cost_usd,
                                run_dir=run_dir, replay_from=replay_from,
                                price=parse_price(s.price) if s.price else None)
    raise UsageError(f"unknown agent {kind!r}", f"use --agent {AGENT_FORMS}")


def build_agent(config: RunConfig, client: LLMClient | None, briefing: Briefing | None = None) -> Agent:
    if config.agent in BASELINE_AGENTS:
        from bilevel_evolve.engine.agents.baselines import build_baseline_agent

        return build_baseline_agent(config.agent, config.seed)
    if client is None:
        return OfflineAgent()
    from bilevel_evolve.engine.agents.llm import LLMAgent

    return LLMAgent(client, briefing)
