"""ctx.llm through both hosts (a real container per mechanism, and local worker processes): a hook's request
reaches the engine's service and its answer reaches the hook, the wait is not the hook's time, one request
over the cap or a malformed request frame fails that mechanism alone (its worker goes, the host and the other
mechanisms stay), and a failure of the service itself (the run's --max-cost) reaches the engine."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.ground.contract.interface import MAX_LLM_CALLS, MAX_LLM_REQUEST_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import BudgetExceeded
from bilevel_evolve.sandbox.hosts.base import HookFailure, LocalProcessHost
from bilevel_evolve.sandbox.hosts.llm_bridge import LlmBridge, LlmRequest

from .conftest import COUNTER, ctx_json, observe

WAIT_S = 1.5  # what the service takes per request: more than the hosts' call limit below
CALL_LIMIT_S = 1.0

# guide asks the model ctx.iteration times and returns the answers
ASKER = MechanismSource.from_text("""
class Asker:
    name = "asker"

    def guide(self, ctx):
        answers = [ctx.llm("question %d\\n\\nabout this" % i, system="answer briefly", max_tokens=50 + i)
                   for i in range(ctx.iteration)]
        return {"note": " | ".join(answers)}

MECHANISM = Asker
""")


def frame_writer(frame: str) -> MechanismSource:
    """A mechanism whose guide writes the bytes the expression `frame` makes on its worker's reply channel
    itself, as a ctx.llm request line."""
    return MechanismSource.from_text(f"""
import os, sys

class Forger:
    name = "forger"

    def guide(self, ctx):
        fd = int(sys.argv[sys.argv.index("--res-fd") + 1])
        os.write(fd, {frame} + b"\\n")
        return None

MECHANISM = Forger
""")


class Service:
    """The engine's side, recorded: answers every request after `wait_s`, or raises `error`."""

    def __init__(self, wait_s: float = 0.0, error: BaseException | None = None) -> None:
        self.wait_s, self.error = wait_s, error
        self.requests: list[LlmRequest] = []

    def __call__(self, request: LlmRequest) -> str:
        self.requests.append(request)
        time.sleep(self.wait_s)
        if self.error is not None:
            raise self.error
        return f"answer {request.index} to {request.prompt.splitlines()[0]}"


@pytest.fixture(params=["container", "host"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """make(service) -> a host of either kind, its calls limited to CALL_LIMIT_S, closed afterwards."""
    made: list[Any] = []

    def build(service: Any) -> Any:
        if request.param == "container":
            host = request.getfixturevalue("make_host")(call_limit_s=CALL_LIMIT_S, llm_service=service)
        else:
            host = LocalProcessHost(tmp_path / f"h{len(made)}", call_limit_s=CALL_LIMIT_S, llm_service=service)
            made.append(host)
        return host

    yield build
    for host in made:
        host.close()


def _gone(host: Any, mech_id: str) -> bool:
    with pytest.raises(HookFailure) as failure:
        host.call(mech_id, "guide", ctx_json(0), 7, {})
    return failure.value.kind == "died" and "not loaded" in failure.value.reason


def test_the_answer_reaches_the_hook_and_the_models_time_is_not_the_calls(make: Callable[..., Any]) -> None:
    service = Service(wait_s=WAIT_S)
    host = make(service)
    host.load("asker", ASKER, None)
    value = host.call("asker", "guide", ctx_json(2), 7, {})  # 2 x 1.5 s of the model under a 1 s call limit
    assert value == {"note": "answer 1 to question 0 | answer 2 to question 1"}
    assert [(r.mechanism, r.hook, r.index, r.prompt, r.system, r.max_tokens) for r in service.requests] == [
        ("asker", "guide", 1, "question 0\n\nabout this", "answer briefly", 50),
        ("asker", "guide", 2, "question 1\n\nabout this", "answer briefly", 51)]
    assert host.call("asker", "guide", ctx_json(1), 7, {}) == {"note": "answer 1 to question 0"}  # counted per call


def test_one_request_over_the_cap_fails_that_mechanism_and_its_worker_goes(make: Callable[..., Any]) -> None:
    service = Service()
    host = make(service)
    host.load("asker", ASKER, None)
    host.load("counter", COUNTER, None)
    assert host.call("asker", "guide", ctx_json(MAX_LLM_CALLS), 7, {})["note"].count("answer") == MAX_LLM_CALLS
    with pytest.raises(HookFailure) as failure:
        host.call("asker", "guide", ctx_json(MAX_LLM_CALLS + 1), 7, {})
    assert failure.value.kind == "over-budget"
    assert failure.value.reason.endswith(f"called ctx.llm more than {MAX_LLM_CALLS} times in one call "
                                         f"(at most {MAX_LLM_CALLS} per hook call)")
    assert len(service.requests) == 2 * MAX_LLM_CALLS  # the one over the cap never reached the engine
    assert _gone(host, "asker")
    observe(host, "counter")
    assert json.loads(host.state_json("counter")) == {"seen": 1}  # the other mechanism is untouched
    host.load("asker", ASKER, None)  # and the host takes it again
    assert host.call("asker", "guide", ctx_json(1), 7, {}) == {"note": "answer 1 to question 0"}


@pytest.mark.parametrize(("frame", "kind", "says"), [
    ('b"LLM {not json"', "garbage", "sent a ctx.llm request of text that is not JSON"),
    ("""b'LLM {"prompt": 3, "max_tokens": 5}'""", "invalid", "the prompt is a int, expected a str"),
    ("""b'LLM {"prompt": "hi", "max_tokens": 5, "model": "gpt-4o"}'""", "invalid", "unknown keys ['model']"),
    ("""b'LLM {"prompt": "hi", "max_tokens": 99999999}'""", "invalid", "max_tokens is 99999999"),
    ("""b'LLM {"prompt": "hi", "max_tokens": NaN}'""", "garbage", "NaN, which is not JSON data"),
    (f"""b'LLM "' + b"x" * {MAX_LLM_REQUEST_BYTES} + b'"'""", "garbage", f"over the cap of {MAX_LLM_REQUEST_BYTES:,}"),
])
def test_a_malformed_request_frame_fails_that_mechanism_and_nothing_else(
        make: Callable[..., Any], frame: str, kind: str, says: str) -> None:
    service = Service()
    host = make(service)
    host.load("forger", frame_writer(frame), None)
    host.load("counter", COUNTER, None)
    with pytest.raises(HookFailure) as failure:
        host.call("forger", "guide", ctx_json(1), 7, {})
    assert failure.value.kind == kind and says in failure.value.reason, failure.value.reason
    assert service.requests == []
    assert _gone(host, "forger")
    observe(host, "counter")
    assert json.loads(host.state_json("counter")) == {"seen": 1}


def test_the_services_own_failure_reaches_the_engine_and_the_worker_goes(make: Callable[..., Any]) -> None:
    spent = BudgetExceeded("LLM budget spent", "resume the run with a larger --max-cost")
    host = make(Service(error=spent))
    host.load("asker", ASKER, None)
    with pytest.raises(BudgetExceeded):
        host.call("asker", "guide", ctx_json(1), 7, {})
    assert _gone(host, "asker")  # it waited for an answer that would not come


def test_without_a_service_a_request_fails_the_mechanism(tmp_path: Path) -> None:
    host = LocalProcessHost(tmp_path)
    try:
        host.load("asker", ASKER, None)
        with pytest.raises(HookFailure) as failure:
            host.call("asker", "guide", ctx_json(1), 7, {})
        assert failure.value.kind == "invalid" and "no model answers" in failure.value.reason
    finally:
        host.close()


def test_the_engine_side_counts_the_requests_of_one_call_as_well() -> None:
    service = Service()
    bridge = LlmBridge(service, "m", "stage")
    request = json.dumps({"prompt": "p", "system": None, "max_tokens": 8}).encode()
    for index in range(1, MAX_LLM_CALLS + 1):
        assert json.loads(bridge(request)) == {"ok": True, "text": f"answer {index} to p"}
    with pytest.raises(HookFailure) as failure:
        bridge(request)
    assert failure.value.kind == "over-budget" and len(service.requests) == MAX_LLM_CALLS
