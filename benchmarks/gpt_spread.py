"""val_bpb spread of the shipped small GPT over a few hyperparameter settings.

Each setting is one real train_opt trial (the domain edits a copy of domains/train_opt/train.py
and runs it at its default 20 s budget unless --budget says otherwise). The default setting runs
under two seeds to show the seed noise next to the hyperparameter effects. Training is
wall-clock bound, so a loaded machine takes fewer steps and scores worse: the load average is
recorded with the results.

    python benchmarks/gpt_spread.py [--budget 20] [--threads 2] [--out benchmarks/results/gpt_spread.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.registry import load_domain

LRS = ("MATRIX_LR", "EMBEDDING_LR", "UNEMBEDDING_LR", "SCALAR_LR")


def settings(defaults: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """(label, seed, changed params) per run."""
    batch = defaults["TOTAL_BATCH_SIZE"]
    lr_times = lambda k: {n: defaults[n] * k for n in LRS}  # noqa: E731
    return [
        ("default", 0, {}),
        ("default (seed 1)", 1, {}),
        ("batch /2", 0, {"TOTAL_BATCH_SIZE": batch // 2}),
        ("batch x2", 0, {"TOTAL_BATCH_SIZE": batch * 2}),
        ("LR x3", 0, lr_times(3.0)),
        ("LR /3", 0, lr_times(1 / 3)),
        ("batch /4, LR x3", 0, {"TOTAL_BATCH_SIZE": batch // 4, **lr_times(3.0)}),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, help="training seconds per run (default: train.py's TIME_BUDGET)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads per run (2)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/gpt_spread.json"))
    args = ap.parse_args()

    domain = load_domain("train_opt", DomainOptions(time_budget_s=args.budget, num_threads=args.threads))
    defaults = domain.space.defaults()
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="gpt-spread-") as tmp:
        for i, (label, seed, changes) in enumerate(settings(defaults)):
            result = domain.run_trial({**defaults, **changes}, Path(tmp) / f"run-{i}", seed)
            row = {"setting": label, "seed": seed, "changes": changes, "status": result.status,
                   "val_bpb": result.value, "num_steps": result.metrics.get("num_steps"),
                   "training_seconds": result.metrics.get("training_seconds"),
                   "wall_s": round(result.duration_s, 1), "load_avg_1m": os.getloadavg()[0],
                   "message": result.message[-300:]}
            rows.append(row)
            bpb = f"{row['val_bpb']:.4f}" if row["val_bpb"] is not None else row["status"]
            print(f"{label:18} seed {seed}  val_bpb {bpb:>8}  steps {_int(row['num_steps'])}  "
                  f"load {row['load_avg_1m']:.1f}", flush=True)

    report = {
        "benchmark": "gpt_spread",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "describe": {k: v for k, v in domain.describe().items() if k != "space"},
        "defaults": defaults,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "platform": platform.platform(), "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg()},
        "elapsed_s": round(time.time() - started, 1),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("\n| setting | seed | val_bpb | steps | load (1 min) |\n|---|---|---|---|---|")
    for r in rows:
        bpb = f"{r['val_bpb']:.3f}" if r["val_bpb"] is not None else r["status"]
        print(f"| {r['setting']} | {r['seed']} | {bpb} | {_int(r['num_steps'])} | {r['load_avg_1m']:.1f} |")
    print(f"\nwrote {args.out}")
    return 0


def _int(value: float | None) -> str:
    return "-" if value is None else str(int(value))


if __name__ == "__main__":
    raise SystemExit(main())
