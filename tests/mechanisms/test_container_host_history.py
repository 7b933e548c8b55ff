"""ContainerHost with incremental history: the same ctx as full sends, ever smaller requests than
full sends, each mechanism's history its own (a neighbour's fault changes nothing), and the whole
history once for a worker started afresh."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bilevel_evolve.sandbox.hosts.base import HookFailure
from bilevel_evolve.sandbox.hosts.channel import Channel

from .conftest import misbehaving
from .history_support import ECHO, echoed, growing_ctxs, trials

pytestmark = pytest.mark.docker


@pytest.fixture
def channel_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every line the engine writes to a host container, in order."""
    writes: list[bytes] = []
    real = Channel.send

    def spy(channel: Channel, data: bytes, deadline: float) -> None:
        writes.append(data)
        real(channel, data, deadline)

    monkeypatch.setattr(Channel, "send", spy)
    return writes


def test_incremental_and_full_sends_give_hooks_the_same_ctx(make_host: Callable[..., Any],
                                                            channel_writes: list[bytes]) -> None:
    incremental, full = make_host(), make_host(incremental_history=False)
    ctxs = growing_ctxs(trials(60))
    sizes: dict[str, list[int]] = {"incremental": [], "full": []}
    for name, host in (("incremental", incremental), ("full", full)):
        host.load("echo", ECHO, None)
        for ctx in ctxs:
            assert host.call("echo", "guide", ctx, 5, {}) == echoed(ctx, 5)
            sizes[name].append(len(channel_writes[-1]))
    assert sizes["incremental"][-1] < sizes["incremental"][1] * 2  # flat: one new trial per call
    assert sizes["full"][-1] > sizes["incremental"][-1] * 10  # the whole history, every call


def test_a_neighbours_fault_leaves_a_worker_its_history_and_a_fresh_worker_gets_it_whole(
        make_host: Callable[..., Any], channel_writes: list[bytes]) -> None:
    host = make_host()
    host.load("echo", ECHO, None)
    host.load("killer", misbehaving("os._exit(9)"), None)
    ctxs = growing_ctxs(trials(12))
    for ctx in ctxs[:8]:
        host.call("echo", "guide", ctx, 2, {})
    with pytest.raises(HookFailure):
        host.call("killer", "observe", ctxs[8], 2, {"trial": ctxs[9]["history"][8]})
    before = len(channel_writes)
    for ctx in ctxs[8:10]:
        assert host.call("echo", "guide", ctx, 2, {}) == echoed(ctx, 2)
    host.load("echo", ECHO, None)  # loaded again, as on resume: a fresh worker holds nothing
    for ctx in ctxs[10:]:
        assert host.call("echo", "guide", ctx, 2, {}) == echoed(ctx, 2)
    calls = [json.loads(line.partition(b"\t")[2]) for line in channel_writes[before:] if b"\t" in line]
    assert [(c["history_base"], len(c["history_new"])) for c in calls] == [(7, 1), (8, 1), (0, 10), (10, 1), (11, 1)]
