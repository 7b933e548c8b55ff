"""Provider presets and endpoint resolution: base URL, model, and where the API key comes from."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.engine.llm.dotenv import read_dotenv
from bilevel_evolve.ground.errors import UsageError


class ProviderPreset(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    base_url: str
    api_key_env: str
    default_model: str
    json_mode: bool = True  # supports response_format={"type": "json_object"}
    json_schema: bool = False  # supports response_format={"type": "json_schema", ...} (structured answers)


PRESETS: dict[str, ProviderPreset] = {
    "openai": ProviderPreset(
        name="openai",
        base_url="https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY",
        default_model="gpt-4.1-mini",
        json_schema=True,
    ),
    "deepseek": ProviderPreset(
        name="deepseek",
        base_url="https://api.deepseek.com",
        api_key_env="DEEPSEEK_API_KEY",
        default_model="deepseek-chat",
    ),
}

# For --base-url without --provider: the conventional variable name of OpenAI-compatible servers.
CUSTOM_KEY_ENV = "OPENAI_API_KEY"


class Endpoint(BaseModel):
    """A resolved endpoint, ready for the openai SDK. The key is never logged or recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    base_url: str
    model: str
    api_key_env: str
    api_key: str
    json_mode: bool = True
    json_schema: bool = False

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"Endpoint(provider={self.provider!r}, base_url={self.base_url!r}, model={self.model!r})"

    __str__ = __repr__


def resolve_endpoint(
    provider: str | None,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Endpoint:
    """Combine a preset (if any) with explicit flags; read the key from env, then ./.env."""
    preset = _preset(provider, base_url)
    url = base_url or (preset.base_url if preset else None)
    if url is None:
        raise UsageError("no LLM endpoint given", "pass --provider openai|deepseek or --base-url URL")
    name = preset.name if preset else (provider or "custom")
    if preset is not None:
        chosen_model = model or preset.default_model
    elif model:
        chosen_model = model
    else:
        raise UsageError(f"--base-url {url} needs a model name", "pass --model NAME as the endpoint knows it")
    key_env = api_key_env or (preset.api_key_env if preset else CUSTOM_KEY_ENV)
    key = lookup_key(key_env, env=env, cwd=cwd)
    return Endpoint(
        provider=name,
        base_url=url,
        model=chosen_model,
        api_key_env=key_env,
        api_key=key,
        json_mode=preset.json_mode if preset else True,
        json_schema=preset.json_schema if preset else False,  # a custom endpoint: the schema goes in the prompt
    )


def lookup_key(name: str, *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    environ = os.environ if env is None else env
    key = environ.get(name) or read_dotenv((cwd or Path.cwd()) / ".env").get(name)
    if not key:
        raise UsageError(
            f"no API key: the environment variable {name} is not set (nor in ./.env)",
            f"export {name}=sk-... or add the line {name}=sk-... to a .env file in this directory; "
            "--agent offline needs no key",
        )
    return key


def _preset(provider: str | None, base_url: str | None) -> ProviderPreset | None:
    """The named preset; None for a custom endpoint (any other name, given with --base-url)."""
    if provider is None and base_url is None:
        return PRESETS["openai"]
    if provider is None or (provider not in PRESETS and base_url is not None):
        return None
    try:
        return PRESETS[provider]
    except KeyError:
        raise UsageError(
            f"unknown LLM provider {provider!r}",
            f"use one of {', '.join(PRESETS)}, or name any OpenAI-compatible endpoint with "
            "--base-url URL --model NAME --api-key-env VAR",
        ) from None
