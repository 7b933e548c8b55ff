"""A surrogate recipe file alone on BBOB 5-D, in process: how its variants were chosen (docs/benchmarks.md).

For each recipe file, function and seed k = 1..N: the baseline trial (the origin), the offline Level 1
proposer (engine/agents/offline.py) for iterations 1..7, then the recipe's `propose` for 8..99 (the
proposer's point when it answers None), strict acceptance, 100 evaluations; the ctx each call gets is
built as the engine builds it (ground/contract/ctx.py), its rng seeded from (1000 k + FID, iteration).
No container, no Level 1.5 or 2 (no other mechanism, no effect window that could roll the recipe back):
only the model and its candidates. Prints, per function, the mean over the seeds of log10 final regret
(clipped at 1e-8) for each file, their sum and how often each file was best.

    .venv/bin/python benchmarks/bbob_surrogate_harness.py A.py B.py --functions 1,3,7,10 --seeds 8
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.function.bbob import import_ioh
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.ground.contract.ctx import build_context
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.ground.space import SearchSpace

DIM, BUDGET, FIRST_MODEL_ITERATION = 5, 100, 8
SPACE = SearchSpace.from_dict({f"x{i}": {"type": "float", "low": -5.0, "high": 5.0, "default": 0.0}
                               for i in range(1, DIM + 1)})


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"variant_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def final_regret(module: Any, fid: int, seed: int) -> float:
    ioh = import_ioh()
    problem = ioh.get_problem(fid, 1, DIM, ioh.ProblemClass.BBOB)
    agent, mechanism = OfflineAgent(), module.MECHANISM()
    history: list[TrialRecord] = []
    incumbent: TrialRecord | None = None
    for it in range(BUDGET):
        ctx = SearchContext(space=SPACE, direction="minimize", iteration=it, history=tuple(history),
                            incumbent=incumbent, config=SearchConfig())
        params = SPACE.defaults() if it == 0 else agent.propose(ctx).params
        if it >= FIRST_MODEL_ITERATION:
            answer = mechanism.propose(build_context(ctx.to_json(), seed=1000 * seed + fid, hook="propose"))
            params = answer if answer is not None else params
        value = float(problem([params[n] for n in SPACE.names]))
        accepted = incumbent is None or incumbent.value is None or value < incumbent.value
        trial = TrialRecord(iteration=it, params=params, status="ok", value=value, accepted=accepted,
                            source="baseline" if it == 0 else "agent")
        history.append(trial)
        incumbent = trial if accepted else incumbent
    return min(t.value for t in history if t.value is not None) - float(problem.optimum.y)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", type=Path, nargs="+", help="surrogate recipe files (a MECHANISM with propose)")
    p.add_argument("--functions", default="1,3,7,10,11,13,16,17,20,22,24")
    p.add_argument("--seeds", type=int, default=8)
    args = p.parse_args()
    modules = {f.stem: load(f) for f in args.files}
    fids = [int(x) for x in args.functions.split(",")]
    print("fid " + " ".join(f"{name:>10}" for name in modules))
    total = dict.fromkeys(modules, 0.0)
    best = dict.fromkeys(modules, 0)
    for fid in fids:
        scores = {name: sum(math.log10(max(final_regret(m, fid, k), 1e-8)) for k in range(1, args.seeds + 1))
                  / args.seeds for name, m in modules.items()}
        print(f"{fid:3d} " + " ".join(f"{scores[n]:10.3f}" for n in modules), flush=True)
        for name, score in scores.items():
            total[name] += score
            best[name] += score == min(scores.values())
    print("sum " + " ".join(f"{total[n]:10.2f}" for n in modules))
    print("best " + " ".join(f"{best[n]:10d}" for n in modules))


if __name__ == "__main__":
    main()
