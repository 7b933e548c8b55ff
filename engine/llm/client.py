"""LLMClient: structured (JSON, pydantic-validated) exchanges with accounting, a budget and a cassette."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from bilevel_evolve.engine.llm.cassette import CassetteEntry, ChatRequest
from bilevel_evolve.engine.llm.prompts import load_prompt, render_prompt
from bilevel_evolve.engine.llm.tape import Origin, Tape
from bilevel_evolve.engine.llm.transport import ResponseFormatRejected
from bilevel_evolve.ground.errors import BudgetExceeded, InvalidAgentOutput

T = TypeVar("T", bound=BaseModel)
Check = Callable[[Any], list[str]]

log = structlog.get_logger(__name__)

_SHOWN_CHARS = 600  # how much of a bad answer an error message quotes


class InvalidLLMOutput(InvalidAgentOutput):
    """The model's answer stayed unusable after the repair round."""


class Accounting(BaseModel):
    """Running totals; saved in checkpoints so a resumed run keeps counting (and budgeting)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, entry: CassetteEntry) -> Accounting:
        return Accounting(
            calls=self.calls + 1,
            prompt_tokens=self.prompt_tokens + entry.usage.prompt_tokens,
            completion_tokens=self.completion_tokens + entry.usage.completion_tokens,
            cost_usd=self.cost_usd + entry.cost_usd,
        )


class LLMClient:
    """One per run, shared by every level, so the cassette numbers all exchanges in one sequence."""

    def __init__(
        self,
        tape: Tape,
        *,
        model: str,
        max_cost_usd: float | None = None,
        temperature: float | None = 0.7,  # live runs; a replay takes the recorded one
        max_tokens: int | None = None,
        structured: bool = False,  # the endpoint takes JSON-schema response formats (its preset says so)
    ) -> None:
        self.tape = tape
        self.model = model
        self.max_cost_usd = max_cost_usd
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.structured = structured
        self.totals = Accounting()
        # Exchanges are numbered in one sequence; concurrent callers are served one at a time.
        self._lock = threading.Lock()

    # -- raw exchange -------------------------------------------------------------------------------

    def chat(self, messages: Sequence[dict[str, str]], purpose: str, *, json_mode: bool = False,
             response_schema: dict[str, Any] | None = None) -> str:
        """Send one exchange (or serve it from the cassette) and return the model's text."""
        with self._lock:
            return self._chat(messages, purpose, json_mode, response_schema)[0].response

    def exchange(self, messages: Sequence[dict[str, str]], purpose: str, *, max_tokens: int | None = None
                 ) -> tuple[CassetteEntry, Origin]:
        """One plain-text exchange, with its own answer length when given (a mechanism's ctx.llm): the
        cassette entry (usage, cost) and where it came from."""
        with self._lock:
            return self._chat(messages, purpose, False, None, max_tokens)

    def _chat(self, messages: Sequence[dict[str, str]], purpose: str, json_mode: bool,
              response_schema: dict[str, Any] | None = None, max_tokens: int | None = None
              ) -> tuple[CassetteEntry, Origin]:
        if self.max_cost_usd is not None and self.totals.cost_usd >= self.max_cost_usd:
            raise BudgetExceeded(
                f"LLM budget spent: ${self.totals.cost_usd:.4f} of --max-cost ${self.max_cost_usd:.4f} "
                f"after {self.totals.calls} calls; stopped before the next {purpose!r} call",
                "raise the budget: `evolve resume RUN_DIR --max-cost USD` with a larger USD (nothing is lost)",
            )
        request = ChatRequest(
            model=self.model,
            messages=tuple(dict(m) for m in messages),
            temperature=self.temperature,
            max_tokens=self.max_tokens if max_tokens is None else max_tokens,
            json_mode=json_mode,
            response_schema=response_schema,
        )
        entry, origin = self.tape.exchange(self.totals.calls + 1, purpose, request)
        self.totals = self.totals.add(entry)
        log.info(
            "llm_call",
            seq=entry.seq,
            purpose=purpose,
            origin=origin,
            model=self.model,
            prompt_tokens=entry.usage.prompt_tokens,
            completion_tokens=entry.usage.completion_tokens,
            cost_usd=round(entry.cost_usd, 6),
            total_cost_usd=round(self.totals.cost_usd, 6),
            latency_s=round(entry.latency_s, 3),
            attempts=entry.attempts,
        )
        return entry, origin

    # -- structured exchange ------------------------------------------------------------------------

    def complete_json(
        self,
        messages: Sequence[dict[str, str]],
        schema: type[T],
        purpose: str,
        check: Callable[[T], list[str]] | None = None,
    ) -> T:
        """Ask for one JSON object matching schema; one repair round on invalid output.

        `check` adds the caller's own rules (e.g. parameter ranges): it returns the problems with a
        schema-valid answer, [] when it is usable. The repair round lists the exact problems.
        """
        asked, text = self._ask(messages, schema, purpose)
        answer, problems = parse_answer(text, schema, check)
        if answer is not None:
            return answer
        log.warning("llm_repair", purpose=purpose, problems=problems)
        repair = [
            *asked,
            {"role": "assistant", "content": text},
            {"role": "user", "content": render_prompt("repair", problems=_bullets(problems)).strip()},
        ]
        text = self.chat(repair, f"{purpose}/repair", json_mode=True, response_schema=self._response_schema(schema))
        answer, problems = parse_answer(text, schema, check)
        if answer is not None:
            return answer
        shown = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
        raise InvalidLLMOutput(
            f"the model's {purpose!r} answer was still invalid after one repair round: "
            f"{'; '.join(problems)}. It returned: {shown!r}",
            "try a stronger --model, or use --agent offline",
        )

    def _ask(self, messages: Sequence[dict[str, str]], schema: type[BaseModel], purpose: str
             ) -> tuple[list[dict[str, str]], str]:
        """The first exchange of a structured answer: the schema as the response format where the endpoint takes
        one, in the prompt otherwise; an endpoint that refuses the format is asked the other way from then on."""
        if self.structured:
            asked = with_json_instruction(messages, None)
            try:
                return asked, self.chat(asked, purpose, json_mode=True, response_schema=self._response_schema(schema))
            except ResponseFormatRejected as exc:
                self.structured = False
                log.warning("llm_structured_answers_off", purpose=purpose, reason=exc.problem)
                print(f"note: {exc.problem}; the answer's JSON schema goes into the prompt from now on",
                      file=sys.stderr)
        asked = with_json_instruction(messages, schema)
        return asked, self.chat(asked, purpose, json_mode=True)

    def _response_schema(self, schema: type[BaseModel]) -> dict[str, Any] | None:
        return {"name": schema.__name__, "schema": schema.model_json_schema()} if self.structured else None

    # -- checkpointing ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {**self.totals.model_dump(), "structured": self.structured}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the totals (and whether answers are still structured) and rewind the cassette to the
        checkpoint's exchange count."""
        state = dict(state)
        self.structured = bool(state.pop("structured", self.structured))
        self.totals = Accounting.model_validate(state)
        self.tape.rewind(self.totals.calls)


def with_json_instruction(messages: Sequence[dict[str, str]], schema: type[BaseModel] | None
                          ) -> list[dict[str, str]]:
    """Append the JSON-only instruction and the schema to the last user message (schema None: the
    endpoint gets the schema as the response format, and the instruction only says to follow it)."""
    out = [dict(m) for m in messages]
    if schema is None:
        instruction = load_prompt("json_structured").strip()
    else:
        schema_text = json.dumps(schema.model_json_schema(), separators=(",", ":"), sort_keys=True)
        instruction = render_prompt("json_instruction", schema=schema_text).strip()
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = f"{message['content']}\n\n{instruction}"
            break
    else:
        out.append({"role": "user", "content": instruction})
    return out


def parse_answer(text: str, schema: type[T], check: Callable[[T], list[str]] | None) -> tuple[T | None, list[str]]:
    try:
        data = _load_json(text)
    except ValueError as exc:
        return None, [f"the reply is not valid JSON ({exc})"]
    if not isinstance(data, dict):
        return None, [f"the reply must be a JSON object, got {type(data).__name__}"]
    try:
        answer = schema.model_validate(data)
    except ValidationError as exc:
        return None, [_describe(err) for err in exc.errors()]
    problems = check(answer) if check else []
    return (None, problems) if problems else (answer, [])


def _load_json(text: str) -> Any:
    """Parse a reply, tolerating code fences or a sentence around the object."""
    try:
        return json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if not 0 <= start < end:
            raise
        return json.loads(text[start : end + 1])


def _describe(err: Any) -> str:
    where = ".".join(str(x) for x in err.get("loc", ())) or "answer"
    return f"{where}: {err.get('msg', 'invalid')}"


def _bullets(problems: list[str]) -> str:
    return "\n".join(f"- {p}" for p in problems)
