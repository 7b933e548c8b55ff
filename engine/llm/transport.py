"""The live transport: one chat-completions call through the openai SDK, retried by tenacity.

tenacity is the only retry layer (the SDK is built with max_retries=0): transient failures (429, 5xx,
connection errors, timeouts) are retried with exponential backoff; anything else fails at once.
"""

from __future__ import annotations

import time
from typing import Any

import openai
import structlog
from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from bilevel_evolve.engine.llm.cassette import ChatRequest, Usage
from bilevel_evolve.engine.llm.providers import Endpoint
from bilevel_evolve.ground.errors import EvolveError

log = structlog.get_logger(__name__)


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=6, ge=1)
    initial_wait_s: float = Field(default=1.0, ge=0)
    max_wait_s: float = Field(default=60.0, ge=0)


class ResponseFormatRejected(EvolveError):
    """The endpoint refused the JSON-schema response format: the client falls back to the schema in the prompt."""


class LiveReply(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    finish_reason: str | None
    usage: Usage
    attempts: int
    latency_s: float


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


class OpenAITransport:
    """Sends ChatRequests to one endpoint. Raises EvolveError with the endpoint's own message."""

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 120.0, retry: RetryPolicy | None = None) -> None:
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()
        self._sdk = openai.OpenAI(
            base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0, timeout=timeout_s
        )

    def send(self, request: ChatRequest, purpose: str) -> LiveReply:
        started = time.monotonic()
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=wait_exponential(multiplier=self.retry.initial_wait_s, max=self.retry.max_wait_s),
            retry=retry_if_exception(is_transient),
            before_sleep=lambda state: _log_retry(state, purpose),
            reraise=True,
        )
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            return self._sdk.chat.completions.create(**self._arguments(request))

        try:
            completion = retrying(attempt)
        except openai.BadRequestError as exc:
            if request.response_schema is not None and self.endpoint.json_schema and _about_the_format(exc):
                raise ResponseFormatRejected(f"{self.endpoint.base_url} refused the JSON-schema response format: "
                                             f"{_message(exc)}") from None
            raise self._explain(exc, attempts) from None
        except openai.APIError as exc:
            raise self._explain(exc, attempts) from None
        if not completion.choices:
            raise EvolveError(
                f"{self.endpoint.base_url} returned no choices for {purpose}",
                "check that the model name is right for this endpoint",
            )
        choice = completion.choices[0]
        usage = completion.usage
        return LiveReply(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            usage=Usage(
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
            ),
            attempts=attempts,
            latency_s=time.monotonic() - started,
        )

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {"model": request.model, "messages": list(request.messages)}
        if request.temperature is not None:
            args["temperature"] = request.temperature
        if request.max_tokens is not None:
            args["max_tokens"] = request.max_tokens
        if request.response_schema is not None and self.endpoint.json_schema:
            args["response_format"] = {"type": "json_schema", "json_schema": {**request.response_schema,
                                                                            "strict": False}}
        elif request.json_mode and self.endpoint.json_mode:
            args["response_format"] = {"type": "json_object"}
        return args

    def _explain(self, exc: openai.APIError, attempts: int) -> EvolveError:
        where = f"{self.endpoint.base_url} (model {self.endpoint.model})"
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return EvolveError(
                f"{where} rejected the API key: {_message(exc)}",
                f"check the key in ${self.endpoint.api_key_env} (environment or ./.env)",
            )
        if is_transient(exc):
            return EvolveError(
                f"{where} kept failing after {attempts} attempt(s): {_message(exc)}",
                "check the endpoint and your rate limits, then `evolve resume` the run",
            )
        return EvolveError(
            f"{where} refused the request: {_message(exc)}",
            "check --model and --base-url; the run can be resumed with `evolve resume`",
        )


def _about_the_format(exc: openai.BadRequestError) -> bool:
    text = str(exc.message if hasattr(exc, "message") else exc).lower()
    return any(word in text for word in ("response_format", "json_schema", "response format", "schema"))


def _message(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    text = str(exc.message if hasattr(exc, "message") else exc)
    return f"HTTP {status}: {text}" if status else f"{type(exc).__name__}: {text}"


def _log_retry(state: RetryCallState, purpose: str) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "llm_retry",
        purpose=purpose,
        attempt=state.attempt_number,
        wait_s=round(state.next_action.sleep, 3) if state.next_action else None,
        error=type(exc).__name__ if exc else None,
    )
