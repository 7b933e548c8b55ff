"""Vetting latency: static gate time and end-to-end check (gate + box) latency over realistic candidates.

    .venv/bin/python benchmarks/vetting.py [--rounds 6] [--out benchmarks/results/vetting.json]

The sandbox image must exist (scripts/build-image.sh); it is reused, never rebuilt, for every check.
Candidates: the fixture mechanisms in tests/sandbox/mechanisms/ plus variants generated here
(tabu, bandit, annealing, restart, numpy-based), so every round checks fresh sources (new SHA-256).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bilevel_evolve.sandbox.image import connect, image_name, require_image  # noqa: E402
from bilevel_evolve.sandbox.vet import check_mechanism  # noqa: E402

FIXTURES = ROOT / "tests" / "sandbox" / "mechanisms"

RESTART = '''
class RandomRestart:
    name = "random-restart-{n}"

    def __init__(self):
        self._stall = 0
        self._best = None

    def observe(self, trial, ctx):
        if trial.value is not None and (self._best is None or ctx.better(trial.value, self._best)):
            self._best = trial.value
            self._stall = 0
        else:
            self._stall += 1

    def propose(self, ctx):
        if self._stall >= {patience}:
            self._stall = 0
            return ctx.sample()
        return None

    def state_dict(self):
        return {{"stall": self._stall, "best": self._best}}

    def load_state_dict(self, state):
        self._stall = state["stall"]
        self._best = state["best"]


MECHANISM = RandomRestart
'''

NUMPY_STEP = '''
import numpy as np


class NumpyCoordinateStep:
    name = "numpy-coordinate-step-{n}"

    def __init__(self):
        super().__init__()
        self._steps = {{}}

    def propose(self, ctx):
        if ctx.incumbent is None:
            return None
        params = dict(ctx.incumbent.params)
        numeric = [k for k, s in ctx.space.items() if s["type"] != "choice"]
        name = numeric[ctx.iteration % len(numeric)]
        spec = ctx.space[name]
        width = (spec["high"] - spec["low"]) * {scale} * ctx.config.step_scale
        value = float(np.clip(params[name] + ctx.rng.gauss(0.0, width), spec["low"], spec["high"]))
        params[name] = int(round(value)) if spec["type"] == "int" else value
        self._steps[name] = self._steps.get(name, 0) + 1
        return params

    def state_dict(self):
        return {{"steps": dict(self._steps)}}

    def load_state_dict(self, state):
        self._steps = dict(state["steps"])


MECHANISM = NumpyCoordinateStep
'''


def candidates(rounds: int) -> list[tuple[str, str]]:
    fixtures = [(p.stem, p.read_text()) for p in sorted(FIXTURES.glob("*.py"))]
    out = []
    for n in range(rounds):
        # A trailing comment makes each round's fixture a new source (new hash), as a new candidate would be.
        out += [(f"{stem}#{n}", f"{text}\n# round {n}\n") for stem, text in fixtures]
        out.append((f"restart#{n}", RESTART.format(n=n, patience=2 + n % 3)))
        out.append((f"numpy-step#{n}", NUMPY_STEP.format(n=n, scale=0.05 + 0.01 * n)))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": round(percentile(values, 0.5), 4), "p95": round(percentile(values, 0.95), 4),
            "mean": round(statistics.fmean(values), 4), "max": round(max(values), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="candidates = rounds x 6 (default 4 -> 24)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "vetting.json")
    args = parser.parse_args()
    client = connect()
    require_image(client, image_name())
    gate_ms: list[float] = []
    check_s: list[float] = []
    box_s: list[float] = []
    by_kind: dict[str, list[float]] = {}
    rejected = []
    check_mechanism("class W:\n    def observe(self, t, c):\n        return None\nMECHANISM = W\n", client=client)
    for label, source in candidates(args.rounds):
        started = time.perf_counter()
        report = check_mechanism(source, client=client)
        elapsed = time.perf_counter() - started
        check_s.append(elapsed)
        by_kind.setdefault(label.split("#")[0], []).append(elapsed)
        if report.gate is not None:  # always: the gate is on by default; its own timing, not a second run
            gate_ms.append(report.gate.elapsed_ms)
        if report.box is not None:
            box_s.append(report.box.duration_s)
        if not report.accepted:
            rejected.append({"candidate": label, "status": report.status, "reasons": report.reasons[:2]})
    result = {
        "command": " ".join(["python", "benchmarks/vetting.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "docker": client.version().get("Version"), "image": image_name()},
        "candidates": len(check_s),
        "gate_ms": summary(gate_ms),
        "box_container_s": summary(box_s),
        "check_end_to_end_s": summary(check_s),
        "check_by_candidate_s": {k: summary(v) for k, v in sorted(by_kind.items())},
        "rejected": rejected,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'measure':<28}{'n':>4}{'p50':>10}{'p95':>10}{'max':>10}")
    rows = [("gate (ms)", result["gate_ms"]), ("box container (s)", result["box_container_s"]),
            ("check end-to-end (s)", result["check_end_to_end_s"])]
    rows += [(f"  {k} (s)", v) for k, v in result["check_by_candidate_s"].items()]
    for name, row in rows:
        print(f"{name:<28}{row['n']:>4}{row['p50']:>10.3f}{row['p95']:>10.3f}{row['max']:>10.3f}")
    print(f"rejected: {len(rejected)} of {len(check_s)}; wrote {args.out}")
    return 0 if not rejected else 1


if __name__ == "__main__":
    sys.exit(main())
