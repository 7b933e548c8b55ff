"""Incremental history: a hook call carries only the trials the worker lacks, and the hook sees exactly
the ctx a full send gives (LocalProcessHost and the feed itself; the container is test_container_host_history)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.engine.mechanisms.ctx_json import CtxJson
from bilevel_evolve.ground.records import SearchConfig, SearchContext
from bilevel_evolve.sandbox.guest.worker_link import Worker
from bilevel_evolve.sandbox.hosts.base import HookFailure, LocalProcessHost
from bilevel_evolve.sandbox.hosts.history import HistoryFeed

from .conftest import SPACE, ctx_json
from .history_support import ECHO, echoed, growing_ctxs, trials


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call request a LocalProcessHost's workers are sent, in order."""
    requests: list[dict[str, Any]] = []
    real = LocalProcessHost._request

    def spy(host: LocalProcessHost, mech_id: str, req: dict[str, Any], hook: str, limit_s: float,
            on_llm: Any = None) -> dict[str, Any]:
        if req.get("op") == "call":
            requests.append(req)
        return real(host, mech_id, req, hook, limit_s, on_llm)

    monkeypatch.setattr(LocalProcessHost, "_request", spy)
    return requests


def test_the_hook_sees_the_same_ctx_and_each_call_carries_only_the_new_trials(
        tmp_path: Path, sent: list[dict[str, Any]]) -> None:
    host = LocalProcessHost(tmp_path)
    try:
        host.load("echo", ECHO, None)
        ctxs = growing_ctxs(trials(40))
        for ctx in ctxs:
            assert host.call("echo", "guide", ctx, 3, {}) == echoed(ctx, 3)
            assert host.call("echo", "guide", ctx, 4, {}) == echoed(ctx, 4)  # a later phase: nothing new
    finally:
        host.close()
    # at iteration n the worker holds the n - 1 trials of the last ctx: the first phase adds one
    expected = [(0, 0), (0, 0)] + [pair for n in range(1, 41) for pair in ((n - 1, 1), (n, 0))]
    assert [(r["history_base"], len(r["history_new"])) for r in sent] == expected
    assert all("history" not in r["ctx"] for r in sent)


def test_forced_full_sends_are_the_old_protocol_and_give_the_same_ctx(
        tmp_path: Path, sent: list[dict[str, Any]]) -> None:
    host = LocalProcessHost(tmp_path, incremental_history=False)
    try:
        host.load("echo", ECHO, None)
        ctxs = growing_ctxs(trials(12))
        for ctx in ctxs:
            assert host.call("echo", "guide", ctx, 3, {}) == echoed(ctx, 3)
    finally:
        host.close()
    assert all("history_base" not in r and r["ctx"] is ctx for r, ctx in zip(sent, ctxs, strict=True))


def test_fresh_dicts_a_shorter_or_a_rewritten_history_are_sent_whole(
        tmp_path: Path, sent: list[dict[str, Any]]) -> None:
    later = growing_ctxs(trials(10))[-1]
    cases = [ctx_json(iteration=5, trials=4), ctx_json(iteration=5, trials=4),  # the replay: new dicts every call
             later, {**later, "history": later["history"][:6]},  # shorter
             {**later, "history": [*later["history"][:3], {**later["history"][3], "value": -9.0}]}]  # rewritten
    host = LocalProcessHost(tmp_path)
    try:
        host.load("echo", ECHO, None)
        for ctx in cases:
            assert host.call("echo", "guide", ctx, 1, {}) == echoed(ctx, 1)
    finally:
        host.close()
    assert [r.get("history_base") for r in sent] == [0, None, None, None, None]


def test_a_reloaded_mechanism_gets_the_whole_history_once(tmp_path: Path, sent: list[dict[str, Any]]) -> None:
    ctxs = growing_ctxs(trials(8))
    host = LocalProcessHost(tmp_path)
    try:
        host.load("echo", ECHO, None)
        for ctx in ctxs[:6]:
            host.call("echo", "guide", ctx, 1, {})
        host.unload("echo")
        host.load("echo", ECHO, None)  # e.g. resumed from a checkpoint: a fresh worker
        for ctx in ctxs[6:]:
            assert host.call("echo", "guide", ctx, 1, {}) == echoed(ctx, 1)
    finally:
        host.close()
    assert [(r["history_base"], len(r["history_new"])) for r in sent[6:]] == [(0, 6), (6, 1), (7, 1)]


def test_a_worker_holding_another_history_is_detected_and_sent_the_whole_one(
        tmp_path: Path, sent: list[dict[str, Any]]) -> None:
    ctxs = growing_ctxs(trials(6))
    host = LocalProcessHost(tmp_path)
    try:
        host.load("echo", ECHO, None)
        for ctx in ctxs[:4]:
            host.call("echo", "guide", ctx, 1, {})
        host._feeds["echo"] = HistoryFeed()  # the host lost count: it believes the worker holds nothing
        assert host.call("echo", "guide", ctxs[5], 1, {}) == echoed(ctxs[5], 1)
    finally:
        host.close()
    assert sent[4]["history_base"] == 0 and len(sent[4]["history_new"]) == 5  # the worker holds 3: refused
    assert "history_base" not in sent[5] and len(sent[5]["ctx"]["history"]) == 5


def test_a_forged_mismatch_buys_one_full_send_within_the_same_deadline_and_then_fails_the_call() -> None:
    feed = HistoryFeed()
    sends: list[tuple[dict[str, Any], float]] = []

    def forger(request: dict[str, Any], limit_s: float) -> dict[str, Any]:
        sends.append((request, limit_s))
        return {"ok": False, "history_mismatch": True, "error": "again", "where": ""}

    ctx = growing_ctxs(trials(3))[-1]
    reply = feed.call(forger, "guide", ctx, 1, {}, limit_s=5.0)
    assert reply["ok"] is False and len(sends) == 2
    (first, first_limit), (whole, whole_limit) = sends
    assert first["history_base"] == 0 and whole["ctx"] is ctx and whole_limit <= first_limit == 5.0


def test_a_mismatch_answer_the_host_passes_on_is_a_raised_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = LocalProcessHost(tmp_path)
    try:
        host.load("echo", ECHO, None)
        monkeypatch.setattr(Worker, "exchange", lambda *_: b'{"ok": false, "history_mismatch": true, "error": "no"}')
        with pytest.raises(HookFailure) as failure:
            host.call("echo", "guide", growing_ctxs(trials(2))[-1], 1, {})
        assert failure.value.kind == "raised"
    finally:
        host.close()


def test_ctx_json_reuses_the_dumps_of_the_trials_the_last_ctx_had() -> None:
    history = tuple(trials(5))
    as_json = CtxJson()

    def ctx(n: int, records: tuple[Any, ...] = history) -> SearchContext:
        return SearchContext(space=SPACE, direction="minimize", iteration=n, history=records[:n], incumbent=None,
                             config=SearchConfig())

    first, second = ctx(3), ctx(5)
    assert as_json(first) is as_json(first)  # once per ctx object
    assert as_json(first) == first.to_json() and as_json(second) == second.to_json()
    assert all(a is b for a, b in zip(as_json(first)["history"], as_json(second)["history"], strict=False))
    other = ctx(4, tuple(trials(5)))  # equal records, other objects: dumped afresh
    assert as_json(other) == other.to_json()
    assert not any(a is b for a, b in zip(as_json(other)["history"], as_json(second)["history"], strict=False))
