"""Build the Level 1 proposer named by the run's configuration."""

from __future__ import annotations

from pathlib import Path

from engine.agents.base import Agent
from engine.agents.offline import OfflineAgent
from engine.config import RunConfig
from engine.errors import UsageError

AGENT_FORMS = "offline | llm | replay:RUN_DIR"


def build_agent(config: RunConfig, run_dir: Path) -> Agent:
    kind = config.agent
    if kind == "offline":
        return OfflineAgent()
    if kind == "llm" or kind.startswith("replay:"):
        from engine.agents.llm import LLMAgent, build_llm_client

        replay_from = Path(kind.split(":", 1)[1]) if kind.startswith("replay:") else None
        s = config.llm
        client = build_llm_client(provider=s.provider, model=s.model, base_url=s.base_url,
                                  api_key_env=s.api_key_env, max_cost_usd=s.max_cost_usd,
                                  run_dir=run_dir, replay_from=replay_from)
        return LLMAgent(client)
    raise UsageError(f"unknown agent {kind!r}", f"use --agent {AGENT_FORMS}")
