"""Helpers for the mechanism host tests: sample mechanisms and ctx/trial builders, hosts that are
always closed, and a finder for this process's host containers. The Docker engine and image
fixtures (skip locally, fail under CI=true, no container left behind) are tests/conftest.py's."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sample_mechanisms import counting_mechanism

from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.ground.space import SearchSpace

SPACE = SearchSpace.from_dict({
    "x": {"type": "float", "low": -5.0, "high": 5.0, "default": 0.0},
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 1e-2},
    "act": {"type": "choice", "choices": ["relu", "gelu", "tanh"], "default": "relu"},
})

COUNTER = counting_mechanism("Counter", "counter")


def misbehaving(observe_body: str, imports: str = "import os, signal, sys") -> MechanismSource:
    """A mechanism whose observe hook runs `observe_body` (the box's gate is not involved here)."""
    body = "\n".join("        " + line for line in observe_body.strip().splitlines())
    return MechanismSource.from_text(f"{imports}\n\nclass Misbehaving:\n    name = 'misbehaving'\n\n"
            f"    def observe(self, trial, ctx):\n{body}\n        return None\n\n"
                                     "MECHANISM = Misbehaving\n")


def ctx_json(iteration: int = 1, trials: int = 3) -> dict[str, Any]:
    rng = random.Random(iteration)
    history = tuple(trial_record(i, rng.uniform(-5, 5)) for i in range(trials))
    return SearchContext(space=SPACE, direction="minimize", iteration=iteration, history=history,
                         incumbent=history[0] if history else None, config=SearchConfig()).to_json()


def trial_record(iteration: int, x: float) -> TrialRecord:
    return TrialRecord(iteration=iteration, params={"x": x, "lr": 0.01, "act": "relu"}, status="ok",
                       value=x * x, accepted=iteration == 0)


def observe(host: Any, mech_id: str, iteration: int = 1) -> Any:
    return host.call(mech_id, "observe", ctx_json(iteration), 7, {"trial": trial_record(iteration, 0.5).model_dump()})


@pytest.fixture
def make_host(docker_client: Any, sandbox_image: str) -> Iterator[Callable[..., Any]]:
    """make_host(**ContainerHost options) -> a ContainerHost on the test engine, closed afterwards."""
    from bilevel_evolve.sandbox.hosts.container import ContainerHost

    made: list[ContainerHost] = []

    def make(**options: Any) -> ContainerHost:
        options = {"call_limit_s": 3.0, "load_limit_s": 30.0, **options}
        host = ContainerHost(f"test{len(made)}", client=docker_client, image=sandbox_image, **options)
        made.append(host)
        return host

    yield make
    for host in made:
        host.close()


@pytest.fixture
def host_containers(docker_client: Any) -> Callable[[], list[Any]]:
    """host_containers() -> every mechanism host container (any state) this process owns."""
    from bilevel_evolve.sandbox.lifecycle import LABEL_KIND, LABEL_OWNER, LABEL_PID, OWNER_VALUE

    def find() -> list[Any]:
        labels = [f"{LABEL_OWNER}={OWNER_VALUE}", f"{LABEL_KIND}=host", f"{LABEL_PID}={os.getpid()}"]
        return docker_client.containers.list(all=True, filters={"label": labels}, ignore_removed=True)

    return find
