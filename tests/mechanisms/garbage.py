"""Seeded reply lines as a broken or hostile worker might write them: valid replies with strange values,
lone surrogates, control characters, NaN, huge and deep JSON, wrong shapes and types, two replies in one,
truncated ones (an early EOF), bytes that are not UTF-8."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

HOSTILE_TEXT = ("\ud800", "\udfff", "\x1b[31m", "\x1b]8;;http://x\x07", "[/bold]", "[link=http://x]", "$\\frac{1}{$",
                "\u202e", "\x00", "\n\r\t", "<script>", "x" * 3000)


def hostile_text(rng: random.Random) -> str:
    return "".join(rng.choice(HOSTILE_TEXT) for _ in range(rng.randint(1, 4)))


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON-ish value a hook might return: nested at random, strings hostile, floats not always finite."""
    choice = rng.random()
    if depth > 40 or choice < 0.25:
        return rng.choice([None, True, 0, -1, 2**70, 1.5, float("nan"), float("inf"), hostile_text(rng)])
    if choice < 0.6:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {hostile_text(rng): hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _dump(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply).encode()


def _nested(n: int) -> str:
    return "[" * n + "]" * n


GENERATORS: dict[str, Callable[[random.Random], bytes]] = {
    "fine": lambda rng: rng.choice([b'{"ok": true}', b'{"ok": true, "value_json": "null"}']),
    "value": lambda rng: _dump({"ok": True, "value_json": json.dumps(hostile_value(rng))}),
    "note": lambda rng: _dump({"ok": True, "value_json": json.dumps({"note": hostile_text(rng)})}),
    "raised": lambda rng: _dump({"ok": False, "error": hostile_text(rng), "where": hostile_text(rng)}),
    "deep line": lambda rng: b"[" * rng.randint(1_000, 200_000),
    "deep value": lambda rng: _dump({"ok": True, "value_json": _nested(rng.choice([40, 900, 5_000, 100_000]))}),
    "huge value": lambda rng: _dump({"ok": True,
                                     "value_json": json.dumps("x" * rng.choice([70_000, 400_000, 1_000_000]))}),
    "huge line": lambda rng: b"7" * (5 << 20),
    "bytes": lambda rng: rng.randbytes(rng.randint(0, 300)).replace(b"\n", b""),
    "surrogate bytes": lambda rng: b'{"ok": false, "error": "\xed\xa0\x80"}',
    "nan": lambda rng: rng.choice([b'{"ok": NaN}', b'{"ok": true, "value_json": "NaN"}',
                                   b'{"ok": true, "value_json": "[Infinity, -Infinity]"}']),
    "wrong shape": lambda rng: rng.choice([b"[1, 2]", b'"ok"', b"null", b"{}", b'{"ok": "yes"}',
                                           b'{"ok": true, "value_json": 5}', b'{"ok": false, "error": 5}',
                                           b'{"ok": true, "unencodable": []}', b'{"ok": 1}']),
    "two in one": lambda rng: rng.choice([b'{"ok": true}{"ok": true}', b'{"ok": true}\n{"ok": false}']),
    "truncated": lambda rng: _dump({"ok": True, "value_json": json.dumps(hostile_value(rng))})[:rng.randint(0, 20)],
    "big int": lambda rng: _dump({"ok": True, "value_json": "9" * 5_000}),
    "mismatch": lambda rng: b'{"ok": false, "history_mismatch": true, "error": "mismatch"}',
    "unencodable": lambda rng: _dump({"ok": True, "unencodable": hostile_text(rng)}),
    "state": lambda rng: _dump({"ok": True, "value_json": rng.choice(['{"a": NaN}', '"\\ud800"', "[", "{}", "7"])
                                + ("\ud800" if rng.random() < 0.3 else "")}),
}
KINDS = tuple(GENERATORS)


def reply_line(rng: random.Random, kinds: tuple[str, ...] = KINDS) -> bytes:
    """One reply line (without its newline) of a kind drawn from `kinds`."""
    return GENERATORS[rng.choice(kinds)](rng)
