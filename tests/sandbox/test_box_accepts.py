"""Case 1: ordinary mechanisms pass gate and box end to end (no false positives)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

FIXTURES = Path(__file__).parent / "mechanisms"
NUMPY_TORCH = """
import math
import numpy as np
import torch


class Base:
    def __init__(self):
        self._calls = 0


class SurrogateStep(Base):
    name = "numpy-torch-surrogate"

    def __init__(self):
        super().__init__()
        self._state = {"best": None, "seen": 0}

    def propose(self, ctx):
        self._calls += 1
        if ctx.incumbent is None or len(ctx.history) < 3:
            return None
        ok = [t for t in ctx.history if t.status == "ok" and t.value is not None]
        values = np.array([t.value for t in ok], dtype=float)
        weights = torch.softmax(torch.tensor(-values), dim=0)
        params = dict(ctx.incumbent.params)
        spec = ctx.space["x"]
        step = float(weights.max()) * (spec["high"] - spec["low"]) * 0.1 * ctx.config.step_scale
        params["x"] = float(np.clip(params["x"] + ctx.rng.uniform(-step, step), spec["low"], spec["high"]))
        return params

    def observe(self, trial, ctx):
        self._state["seen"] += 1
        if trial.value is not None and (self._state["best"] is None or ctx.better(trial.value, self._state["best"])):
            self._state["best"] = trial.value

    def accept(self, trial, incumbent, ctx):
        if trial.value is None or incumbent is None:
            return None
        return bool(trial.value <= incumbent.value + 1e-12 * math.fabs(incumbent.value))

    def state_dict(self):
        return {"state": dict(self._state), "calls": self._calls}

    def load_state_dict(self, state):
        self._state = dict(state["state"])
        self._calls = state["calls"]


MECHANISM = SurrogateStep
"""


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.py")), ids=lambda p: p.stem)
def test_ordinary_mechanism_is_accepted_through_gate_and_box(docker_client, sandbox_image, path: Path) -> None:
    from bilevel_evolve.sandbox.vet import check_mechanism

    report = check_mechanism(path, client=docker_client)
    assert report.accepted, report.to_text()
    assert report.gate is not None and report.gate.ok
    assert report.box is not None and report.box.verdict is not None
    assert all(t.calls > 0 for t in report.box.verdict.hooks.values())


@pytest.mark.slow
def test_numpy_and_torch_mechanism_is_accepted_and_reports_are_saved(docker_client, sandbox_image,
                                                                      tmp_path: Path) -> None:
    from bilevel_evolve.sandbox.container_spec import BoxLimits
    from bilevel_evolve.sandbox.vet import check_mechanism

    report = check_mechanism(NUMPY_TORCH, client=docker_client, report_dir=tmp_path,
                             limits=BoxLimits(import_s=60.0, deadline_s=120.0))
    assert report.accepted, report.to_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.json", "gate.json", "report.txt"]
    saved = json.loads((tmp_path / "box.json").read_text())
    assert saved["status"] == "PASSED"
    assert set(saved["verdict"]["hooks"]) >= {"propose", "observe", "accept", "state_dict", "load_state_dict"}
    assert "ACCEPTED" in (tmp_path / "report.txt").read_text()
    assert report.to_json()["accepted"] is True


def test_recorded_trace_drives_the_hooks(docker_client, sandbox_image, tmp_path: Path) -> None:
    from bilevel_evolve.sandbox.vet import check_mechanism

    space = {"a": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
             "k": {"type": "choice", "choices": ["p", "q"], "default": "p"}}
    trials = [{"iteration": i, "params": {"a": i / 10, "k": "pq"[i % 2]}, "status": "ok", "value": 1 - i / 10,
               "accepted": True} for i in range(5)]
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps({"space": space, "direction": "minimize", "trials": trials}))
    report = check_mechanism(FIXTURES / "tabu_search.py", trace=trace, client=docker_client)
    assert report.accepted, report.to_text()
    assert report.box.verdict.iterations == 5
