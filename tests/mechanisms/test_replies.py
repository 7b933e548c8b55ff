"""The one place worker replies are decoded (sandbox/hosts/replies.py) and the channel header check:
whatever bytes arrive, the result is a clean value or a HookFailure / ChannelFault saying what was wrong,
never another exception. Seeded, many cases, no Docker."""

from __future__ import annotations

import json
import random
import unicodedata
from typing import Any

import pytest

from bilevel_evolve.ground.contract.interface import HOOKS
from bilevel_evolve.sandbox.hosts import replies
from bilevel_evolve.sandbox.hosts.base import HookFailure
from bilevel_evolve.sandbox.hosts.channel import ChannelFault, parse_envelope

from .garbage import KINDS, reply_line

CASES = 2000
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _safe(text: str) -> bool:
    """Shown safely on a terminal or in a file: no control character, lone surrogate or bidi override."""
    return all(unicodedata.category(c) not in ("Cc", "Cs") and c not in BIDI for c in text) and text == text.strip("\n")


def _clean(value: Any) -> None:
    """A value the trace, checkpoint and report can hold: strict JSON, UTF-8, shallow."""
    json.dumps(value, allow_nan=False).encode("utf-8")
    assert _depth(value) <= 33


def test_every_drawn_reply_decodes_to_a_clean_value_or_fails_the_mechanism() -> None:
    rng = random.Random(15)
    outcomes: dict[str, int] = {}
    for _ in range(CASES):
        line = reply_line(rng)
        hook = rng.choice((*HOOKS, "state_dict", "load"))
        try:
            reply = replies.worker_reply("m", hook, line)
            if hook == "state_dict":
                text = replies.state_text("m", reply)
                text.encode("utf-8")
                value: Any = None
            elif hook == "load":
                value = replies.loaded("m", reply).name
            else:
                value = replies.hook_value("m", hook, reply)
            _clean(value)
            outcomes["value"] = outcomes.get("value", 0) + 1
        except HookFailure as failure:
            assert failure.mechanism == "m" and _safe(failure.reason) and len(failure.reason) < 2100
            outcomes[failure.kind] = outcomes.get(failure.kind, 0) + 1
    assert set(outcomes) == {"value", "garbage", "raised", "invalid", "over-budget"}, outcomes


@pytest.mark.parametrize(("line", "kind", "says"), [
    (b"[" * 100_000, "garbage", "nested too deep"),
    (b"\xff\xfe", "garbage", "not even UTF-8"),
    (b'{"ok": NaN}', "garbage", "NaN"),
    (b'{"ok": true}{"ok": true}', "garbage", "not JSON"),
    (b'{"ok": tr', "garbage", "not JSON"),
    (b'{"ok": "yes"}', "garbage", "malformed"),
    (b"7" * (5 << 20), "garbage", "over the cap"),
])
def test_a_reply_line_that_is_not_a_worker_reply_is_garbage(line: bytes, kind: str, says: str) -> None:
    with pytest.raises(HookFailure) as failure:
        replies.worker_reply("m", "guide", line)
    assert failure.value.kind == kind and says in failure.value.reason


@pytest.mark.parametrize(("value_json", "kind", "says"), [
    ("NaN", "invalid", "NaN, which is not JSON data"),
    ("[Infinity]", "invalid", "Infinity"),
    ("[" * 500 + "]" * 500, "invalid", "nested deeper than 32 levels"),
    (json.dumps("x" * 400_000), "over-budget", "at most 393,218"),
    ("9" * 5000, "invalid", "not JSON"),
])
def test_a_hook_value_no_hook_may_return_fails_with_the_reason(value_json: str, kind: str, says: str) -> None:
    with pytest.raises(HookFailure) as failure:
        replies.hook_value("m", "guide", {"ok": True, "value_json": value_json})
    assert failure.value.kind == kind and says in failure.value.reason


def test_strings_of_a_hook_value_are_cleaned_and_a_raised_reason_is_one_clean_line() -> None:
    value = replies.hook_value("m", "guide", {"ok": True, "value_json": json.dumps({"note": "\ud800\x1b[31mred"})})
    assert value == {"note": "\ufffd\\x1b[31mred"}
    with pytest.raises(HookFailure) as failure:
        replies.hook_value("m", "guide", {"ok": False, "error": "boom\n\x1b]8;;http://x\x07", "where": "\udfff"})
    assert failure.value.kind == "raised" and failure.value.reason == "boom \\x1b]8;;http://x\\x07 (\ufffd)"


def test_a_state_the_checkpoint_could_not_hold_is_invalid_and_nan_in_a_state_is_kept() -> None:
    assert replies.state_text("m", {"ok": True, "value_json": '{"best": Infinity}'}) == '{"best": Infinity}'
    for text, says in (('{"a": "\ud800"}', "lone surrogates"), ("[", "not JSON"), ("x" * (2 << 20), "bytes of JSON")):
        with pytest.raises(HookFailure) as failure:
            replies.state_text("m", {"ok": True, "value_json": text})
        assert failure.value.kind == "invalid" and says in failure.value.reason


def test_a_name_from_the_import_is_cleaned_and_unknown_hooks_are_garbage() -> None:
    loaded = replies.loaded("m", {"ok": True, "class": "C", "name": "\x1b[2Jx\ud800" * 50, "hooks": ["guide"]})
    assert _safe(loaded.name) and len(loaded.name) < 250 and loaded.hooks == ("guide",)
    with pytest.raises(HookFailure) as failure:
        replies.loaded("m", {"ok": True, "class": "C", "name": "n", "hooks": ["__init__"]})
    assert failure.value.kind == "garbage"


def test_every_drawn_header_line_is_a_reply_or_a_channel_fault() -> None:
    rng = random.Random(30)
    headers = [b'{"id": 1, "ok": true}', b'{"id": 1, "ok": false, "kind": "died", "reason": "\\ud800\\u001b"}',
               b'{"id": 2, "ok": true}', b'{"id": true, "ok": true}', b'{"id": 1.0, "ok": true}', b"[" * 60_000,
               b'{"id": 1, "ok": false, "kind": "exploded", "reason": ""}', b'{"id": NaN}', b"\xff"]
    faults = replies_seen = 0
    for _ in range(CASES):
        line = rng.choice(headers) + rng.choice([b"", b"\t", b"\t" + reply_line(rng, KINDS[:4])])
        try:
            envelope, _ = parse_envelope(line, 1)
        except ChannelFault as fault:
            assert fault.kind == "garbage"
            faults += 1
            continue
        assert envelope["id"] == 1 and type(envelope["id"]) is int
        assert envelope["ok"] is True or _safe(envelope["reason"])
        replies_seen += 1
    assert faults and replies_seen


def test_a_stage_returns_its_longest_draft_whole_whatever_its_characters() -> None:
    draft = ("é🙂\n\"" * 20_000)[:30_000]  # 4-byte characters too: the draft's JSON is several times its size
    assert len(draft.encode()) <= 64 * 1024
    value = replies.hook_value("m", "stage", {"ok": True, "value_json": json.dumps(draft)})
    assert value == draft
