"""The one place where what a mechanism's worker answered is decoded, for every host.

A worker runs mechanism code, and mechanism code can write any bytes it likes on the worker's reply
channel. So each reply is decoded as the untrusted input it is: its size capped before it is
parsed, strict UTF-8, nesting bounded (json's own recursion check stops a deep one, caught here;
`clean_json` caps what parsed), NaN and infinities refused in hook values, every string cleaned
(`ground/untrusted.py`). Whatever is wrong becomes a `HookFailure` that blames the mechanism whose
reply it was, never an exception that reaches the engine. A hook's ctx.llm requests come over the
same channel and are decoded here the same way (`llm_request`), and the answers encoded (`llm_answer`).
"""

from __future__ import annotations

import json
from typing import Any

from bilevel_evolve.ground.contract.interface import (
    HOOKS,
    MAX_DRAFT_BYTES,
    MAX_LLM_ANSWER_CHARS,
    MAX_LLM_REQUEST_BYTES,
    MAX_RETURN_BYTES,
    MAX_STATE_BYTES,
    STATE_HOOKS,
)
from bilevel_evolve.ground.contract.llm import request_shape_problems
from bilevel_evolve.ground.untrusted import MAX_TEXT_CHARS, UntrustedValueError, clean_json, clean_text
from bilevel_evolve.sandbox.guest.worker_link import MAX_REPLY_BYTES
from bilevel_evolve.sandbox.hosts.outcomes import HookFailure, Loaded

KNOWN_HOOKS = frozenset(HOOKS + STATE_HOOKS)
MAX_NAME_CHARS = 120
MAX_ERROR_CHARS = 1000


class _Constant(ValueError):
    """NaN, Infinity or -Infinity in JSON text that may not hold them."""


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def decode_json(data: bytes | str, max_bytes: int, *, constants: bool = False) -> Any:
    """`data` parsed as JSON without trusting it; UntrustedValueError, saying what was wrong, when
    it is longer than `max_bytes`, not UTF-8, not JSON, nested too deep to parse, or holds NaN or an
    infinity (unless `constants`)."""
    if len(data) > max_bytes:
        raise UntrustedValueError(f"{len(data):,} bytes, over the cap of {max_bytes:,}")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=None if constants else _refuse_constant)
    except UnicodeDecodeError:
        raise UntrustedValueError("bytes that are not JSON (not even UTF-8)") from None
    except _Constant as constant:
        raise UntrustedValueError(f"{constant}, which is not JSON data") from None
    except RecursionError:
        raise UntrustedValueError("JSON nested too deep to read") from None
    except ValueError:
        raise UntrustedValueError("text that is not JSON") from None


def worker_reply(mech_id: str, hook: str, line: bytes, max_bytes: int = MAX_REPLY_BYTES) -> dict[str, Any]:
    """A worker's reply line as a dict of the worker protocol's shape (HookFailure "garbage" otherwise)."""
    try:
        reply = decode_json(line, max_bytes)
    except UntrustedValueError as exc:
        raise HookFailure(mech_id, hook, "garbage", f"the mechanism's worker sent {exc}") from None
    if not isinstance(reply, dict) or not _well_formed(reply):
        raise HookFailure(mech_id, hook, "garbage", "the mechanism's worker sent a malformed reply")
    return reply


def _well_formed(reply: dict[str, Any]) -> bool:
    texts = ("value_json", "unencodable") if reply.get("ok") is True else ("error", "where")
    return isinstance(reply.get("ok"), bool) and all(isinstance(reply.get(key, ""), str) for key in texts)


def raise_failure(mech_id: str, hook: str, reply: dict[str, Any]) -> None:
    """HookFailure when the reply says the hook raised, or returned what JSON cannot hold."""
    if reply["ok"] is False:
        error = clean_text(reply.get("error") or "an error", MAX_ERROR_CHARS)
        where = clean_text(reply.get("where", ""), 200)
        raise HookFailure(mech_id, hook, "raised", f"{error} ({where})" if where else error)
    if "unencodable" in reply:
        raise HookFailure(mech_id, hook, "invalid",
                          f"returned {clean_text(reply['unencodable'], 300)}, which is not JSON data")


def hook_value(mech_id: str, hook: str, reply: dict[str, Any], max_bytes: int = MAX_RETURN_BYTES) -> Any:
    """What the hook returned, cleaned (`clean_json`); HookFailure when it failed, returned more than
    `max_bytes` of JSON ("over-budget"), or returned something no hook may ("invalid")."""
    raise_failure(mech_id, hook, reply)
    text = reply.get("value_json")
    if text is None:
        return None
    if len(text) > max_bytes:
        raise HookFailure(mech_id, hook, "over-budget", f"returned {len(text):,} bytes of JSON; a hook may return "
                          f"at most {max_bytes:,} (--mechanism-return-bytes)")
    try:
        value = decode_json(text, max_bytes)
    except UntrustedValueError as exc:
        raise HookFailure(mech_id, hook, "invalid", f"returned {exc}") from None
    try:  # a stage hook returns a whole draft: its text is cleaned, not cut (returns.check_stage bounds it)
        return clean_json(value, text_limit=MAX_DRAFT_BYTES if hook == "stage" else MAX_TEXT_CHARS)
    except UntrustedValueError as exc:  # too deep or too many values to keep
        raise HookFailure(mech_id, hook, "invalid", f"returned a value {exc}") from None


def state_text(mech_id: str, reply: dict[str, Any]) -> str:
    """The JSON text of a state_dict, checked to be JSON the checkpoint can hold and a fresh worker
    can load: at most MAX_STATE_BYTES, no lone surrogates (NaN and infinities are allowed: the
    worker writes and reads them)."""
    raise_failure(mech_id, "state_dict", reply)
    text = reply.get("value_json")
    if not isinstance(text, str):
        raise HookFailure(mech_id, "state_dict", "garbage", "the mechanism's worker sent no state")
    if len(text) > MAX_STATE_BYTES:
        raise HookFailure(mech_id, "state_dict", "invalid",
                          f"returned {len(text):,} bytes of JSON (at most {MAX_STATE_BYTES:,})")
    try:
        text.encode("utf-8")
        decode_json(text, MAX_STATE_BYTES, constants=True)
    except UnicodeEncodeError:
        raise HookFailure(mech_id, "state_dict", "invalid", "returned text with lone surrogates") from None
    except UntrustedValueError as exc:
        raise HookFailure(mech_id, "state_dict", "invalid", f"returned {exc}") from None
    return text


def loaded(mech_id: str, reply: dict[str, Any]) -> Loaded:
    """The import's answer: the class, the name it gives itself and the hooks it defines."""
    raise_failure(mech_id, "load", reply)
    class_name, name, hooks = reply.get("class"), reply.get("name"), reply.get("hooks")
    if not (isinstance(class_name, str) and isinstance(name, str) and isinstance(hooks, list)
            and all(isinstance(h, str) and h in KNOWN_HOOKS for h in hooks)):
        raise HookFailure(mech_id, "load", "garbage", "the worker's answer to import is malformed")
    return Loaded(clean_text(class_name, MAX_NAME_CHARS, one_line=True),
                  clean_text(name, MAX_NAME_CHARS, one_line=True), tuple(dict.fromkeys(hooks)))


def llm_request(mech_id: str, hook: str, data: bytes) -> dict[str, Any]:
    """A ctx.llm request as the worker sent it, decoded as untrusted: at most MAX_LLM_REQUEST_BYTES,
    strict UTF-8 JSON, {"prompt", "system", "max_tokens"} within the contract's limits
    (ground/contract/llm.py); HookFailure "garbage" when it is not JSON, "invalid" when it is no request
    ctx.llm may make. The texts come back as sent: the engine fences them as data where they go."""
    try:
        request = decode_json(data, MAX_LLM_REQUEST_BYTES)
    except UntrustedValueError as exc:
        raise HookFailure(mech_id, hook, "garbage", f"sent a ctx.llm request of {exc}") from None
    problems = request_shape_problems(request)
    if problems:
        raise HookFailure(mech_id, hook, "invalid", f"sent a ctx.llm request it may not make: {'; '.join(problems)}")
    return {"prompt": request["prompt"], "system": request.get("system"), "max_tokens": request["max_tokens"]}


def llm_answer(text: str) -> bytes:
    """The answer line for the worker: the model's text cut to MAX_LLM_ANSWER_CHARS and cleaned."""
    answer = clean_text(text[:MAX_LLM_ANSWER_CHARS], MAX_LLM_ANSWER_CHARS)
    return json.dumps({"ok": True, "text": answer}).encode()
