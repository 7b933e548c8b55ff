"""The prompt document an LLM writes mechanisms from says what the mechanism interface module says.

engine/prompts/mechanism_interface.md is written by hand (its bytes are part of every recorded Level 2
request), so these tests read it back and compare it with bilevel_evolve.ground.contract.interface:
the hooks in call order, their signatures and return values, the size cap and the import allowlist.
"""

from __future__ import annotations

import re
from pathlib import Path

from bilevel_evolve.ground.contract.ctx import Context
from bilevel_evolve.ground.contract.interface import (
    ALL_HOOKS,
    DEFAULT_ALLOWED_IMPORTS,
    HOOK_SIGNATURES,
    HOOK_SPECS,
    MAX_LLM_ANSWER_CHARS,
    MAX_LLM_CALLS,
    MAX_LLM_MAX_TOKENS,
    MAX_LLM_PROMPT_CHARS,
    MAX_LLM_SYSTEM_CHARS,
    MAX_SOURCE_BYTES,
)

DOCUMENT = Path(__file__).resolve().parents[2] / "engine" / "prompts" / "mechanism_interface.md"
TEXT = DOCUMENT.read_text(encoding="utf-8")
HOOK_LINE = re.compile(r"^\s+def (\w+)\(([^)]*)\): \.\.\.\s*(?:# (.*))?$", re.M)
# Allowed, but not a module a mechanism uses for anything: the document leaves it out.
UNLISTED_IMPORTS = {"__future__"}


def test_the_document_lists_every_hook_in_call_order_with_its_signature() -> None:
    found = [(name, tuple(p.strip() for p in params.split(","))) for name, params, _ in HOOK_LINE.findall(TEXT)]
    assert found == [(name, HOOK_SIGNATURES[name]) for name in ALL_HOOKS]


def test_the_document_says_what_each_hook_returns() -> None:
    comments = {name: comment for name, _, comment in HOOK_LINE.findall(TEXT)}
    for spec in HOOK_SPECS:
        assert spec.returns in comments[spec.name], (spec.name, comments[spec.name])


def test_the_document_states_the_source_size_cap() -> None:
    assert MAX_SOURCE_BYTES % 1024 == 0
    assert f"at most {MAX_SOURCE_BYTES // 1024} KiB" in TEXT


def test_the_document_lists_the_default_import_allowlist() -> None:
    match = re.search(r"imports only from ([^;]+);", TEXT)
    assert match is not None
    listed = {name.strip() for name in match.group(1).replace("\n", " ").split(",")}
    assert listed == set(DEFAULT_ALLOWED_IMPORTS) - UNLISTED_IMPORTS


def test_every_ctx_method_the_document_names_exists() -> None:
    named = set(re.findall(r"`ctx\.(\w+)\(", TEXT))
    assert named, "the document names no ctx methods"
    assert all(callable(getattr(Context, name, None)) for name in named), named


def test_the_document_states_what_ctx_llm_may_ask_and_its_cap() -> None:
    match = re.search(r"`ctx\.llm\(prompt, system=None, max_tokens=(\d+)\)`", TEXT)
    assert match is not None and int(match.group(1)) == Context.llm.__kwdefaults__["max_tokens"]
    flat = " ".join(TEXT.split())
    assert f"at most {MAX_LLM_CALLS} calls per hook call" in flat
    assert f"prompt at most {MAX_LLM_PROMPT_CHARS} characters, system {MAX_LLM_SYSTEM_CHARS}" in flat
    assert f"max_tokens 1..{MAX_LLM_MAX_TOKENS}, the answer cut at {MAX_LLM_ANSWER_CHARS})" in flat
