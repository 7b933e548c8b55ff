"""The results channel, host side: find and validate the harness's verdict in untrusted output.

The container's output is attacker-controlled. Only a line that starts with the verdict marker,
parses as strict JSON within size and depth caps, matches the schema, and carries this run's nonce
is a verdict; anything else (a printed "PASSED", a fake JSON file, a verdict with another nonce)
counts for nothing. JSON only — never pickle.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

VERDICT_MARKER = "@@BILEVEL-EVOLVE-VERDICT@@"  # must match sandbox/guest/harness.py
MAX_VERDICT_BYTES = 64 * 1024
MAX_DEPTH = 8

HarnessStatus = Literal["PASSED", "FAILED", "TIMEOUT", "CRASHED", "IMPORT_ERROR"]
BoxStatus = Literal["PASSED", "FAILED", "TIMEOUT", "OOM", "CRASHED", "IMPORT_ERROR", "NO_VERDICT"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HookTiming(_Strict):
    calls: int = Field(ge=0)
    max_ms: float = Field(ge=0)
    mean_ms: float = Field(ge=0)


class MechanismInfo(_Strict):
    name: str = Field(max_length=200)
    class_: str = Field(alias="class", max_length=200)
    hooks: tuple[str, ...] = Field(max_length=16)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class OutputExcerpt(_Strict):
    bytes: int = Field(ge=0)
    head: str = Field(max_length=16384)
    tail: str = Field(max_length=16384)


class HarnessVerdict(_Strict):
    """Exactly what the in-container harness emits (schema 1)."""

    schema_: Literal[1] = Field(alias="schema")
    nonce: str = Field(min_length=32, max_length=128)
    status: HarnessStatus
    reasons: tuple[str, ...] = Field(max_length=32)
    warnings: tuple[str, ...] = Field(max_length=32)
    mechanism: MechanismInfo
    hooks: dict[str, HookTiming] = Field(max_length=16)
    iterations: int = Field(ge=0)
    output: OutputExcerpt
    duration_s: float = Field(ge=0)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, giving up (returning limit + 1) as soon as it passes the limit."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_verdict_line(text: str, nonce: str) -> HarnessVerdict | str:
    """A verdict, or why this candidate line is not one."""
    if len(text.encode("utf-8", "replace")) > MAX_VERDICT_BYTES:
        return f"verdict larger than {MAX_VERDICT_BYTES} bytes"
    if len(text) - len(text.lstrip("[{")) > MAX_DEPTH or text.count("{") + text.count("[") > 4096:
        return "verdict nested too deeply"
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return f"verdict is not JSON ({str(exc)[:80]})"
    if _depth(raw, MAX_DEPTH) > MAX_DEPTH:
        return f"verdict nested deeper than {MAX_DEPTH}"
    if not isinstance(raw, dict):
        return "verdict is not a JSON object"
    claimed = raw.get("nonce")
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), nonce.encode()):
        return "verdict does not carry this run's nonce"
    try:
        return HarnessVerdict.model_validate(raw)
    except ValidationError as exc:
        return f"verdict does not match the schema: {exc.errors()[0]['msg']}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a verdict")


def find_verdict(output: bytes, nonce: str) -> tuple[HarnessVerdict | None, list[str]]:
    """The one verdict carrying the nonce, plus why other marker lines were ignored.

    Two different verdicts with the right nonce cannot come from the harness (it writes once, after
    everything else is dead): treat that as no verdict at all."""
    marker = VERDICT_MARKER.encode()
    found: list[HarnessVerdict] = []
    ignored: list[str] = []
    for raw_line in output.split(b"\n"):
        if not raw_line.startswith(marker):
            continue
        text = raw_line[len(marker):].strip().decode("utf-8", "replace")
        result = parse_verdict_line(text, nonce)
        if isinstance(result, str):
            ignored.append(result)
        else:
            found.append(result)
    if len({v.model_dump_json() for v in found}) > 1:
        return None, [*ignored, "several different verdicts carry the nonce"]
    return (found[0] if found else None), ignored
