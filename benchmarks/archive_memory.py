"""Does the archive's memory pay? A second `evolve ablate` on the first one's archive against a fresh one.

Per function (BBOB, dimension 5, instance 1, as in bbob_protocol.py; default its ten functions), three
ablations of one group (default C), each R repeats x B evaluations:

- first:  `evolve ablate --seed S1 --archive OUT/fFID/archive` (learns; its runs share that archive);
- second: `evolve ablate --seed S0 --archive OUT/fFID/archive`: the same archive, so its runs start
  with what the first measured (proven mechanisms are reused before anything new is written);
- fresh:  `evolve ablate --seed S0 --archive OUT/fFID/archive-fresh`: the same seeds as second, an
  empty archive (what the second would be without memory).

Reported per function: the median regret (best - f(x*)) of second and fresh, and whether the second is
better, tied or worse (the issue's target: better on at least 7 of 10). Then every mechanism the first
ablation proved (its effect's interval excludes zero over >= 3 runs), with its effect as the first
measured it and as it was re-measured on fresh seeds: by the fresh ablation, whose runs begin as the
first's did (the same experiment with other seeds: the target is that no proven effect changes sign
there), and by the second, whose runs begin by measuring the first's best points (a recall: another
start, which the archive pools apart, shown for what it says about effects after a recall).

Every ablation is an ordinary `evolve ablate` directory; repeating the command continues an interrupted
one. Writes benchmarks/results/archive_memory.json and .md.

    .venv/bin/python benchmarks/archive_memory.py --workers 2
    .venv/bin/python benchmarks/archive_memory.py --functions 2,21 --repeats 3 --iterations 49
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.function.bbob import import_ioh
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.effects import estimates, measurements

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bbob_protocol import FUNCTIONS, domain_spec  # noqa: E402  (the protocol's functions, defined once)

ABLATIONS = ("first", "second", "fresh")


def ablate(fid: int, which: str, args: argparse.Namespace) -> float:
    base = args.work_dir / f"f{fid}"
    archive = base / ("archive-fresh" if which == "fresh" else "archive")
    seed = args.first_seed if which == "first" else args.seed
    cmd = [sys.executable, "-m", "bilevel_evolve.engine.cli", "ablate", "--domain", domain_spec(fid),
           "--groups", args.group, "--repeats", str(args.repeats), "--iterations", str(args.iterations),
           "--seed", str(seed), "--archive", str(archive), "--out", str(base / which),
           "--workers", str(args.workers), "--no-progress"]
    print(f"$ evolve {' '.join(cmd[3:])}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    with (base / f"{which}.log").open("ab") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return time.monotonic() - t0


def bests(summary: dict, group: str) -> list[float]:
    return [r["best"] for r in summary["runs"] if r["label"] == group and r["best"] is not None]


def effects(fid: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each mechanism the first ablation proved, re-measured on fresh seeds two ways: by the fresh ablation
    (its runs begin as the first's did: the same experiment again) and by the second (its runs begin with a
    recall of the first's best points: another start, which the archive pools apart)."""
    base = args.work_dir / f"f{fid}"
    horizon = json.loads((base / "second" / "ablation.json").read_text())["options"].get("archive_horizon")
    with Archive.open(base / "archive") as archive:
        events = archive.events(kind="effect")
        names = {s.id: s.name for s in archive.list()}
    with Archive.open(base / "archive-fresh") as fresh:
        fresh_events = fresh.events(kind="effect")
    domain = domain_spec(fid)
    before = [e for e in estimates(measurements(events, up_to=horizon)) if e.domain == domain]
    later = measurements([ev for ev in events if horizon is None or ev.seq > horizon])  # the second's runs
    again = {"fresh": {e.mechanism_id: e for e in estimates(measurements(fresh_events)) if e.domain == domain},
             "second": {e.mechanism_id: e for e in estimates(later) if e.domain == domain}}
    out = []
    for e in before:
        if not e.proven:
            continue
        row: dict[str, Any] = {"mechanism": e.mechanism_id, "name": names.get(e.mechanism_id, "?"),
                               "first_runs": e.runs, "first_mean": e.mean, "first_interval": [e.low, e.high],
                               "sign": e.sign}
        for which, found in again.items():
            re = found.get(e.mechanism_id)
            row |= {f"{which}_runs": re.runs if re else 0, f"{which}_mean": re.mean if re else None,
                    f"{which}_start": re.start if re else None,
                    f"{which}_interval": [re.low, re.high] if re else None,
                    f"{which}_same_sign": None if re is None or re.mean == 0 else (re.mean > 0) == (e.mean > 0)}
        out.append(row)
    return out


def verdict(second: float | None, fresh: float | None) -> str:
    """Regrets: lower is better; within 1e-12 relative is a tie (identical runs, or both at the optimum)."""
    if second is None or fresh is None:
        return "missing"
    if abs(second - fresh) <= 1e-12 * max(1.0, abs(fresh)):
        return "tie"
    return "better" if second < fresh else "worse"


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def markdown(rows: list[dict], proven: list[dict], args: argparse.Namespace) -> str:
    lines = [f"group {args.group}, {args.repeats} repeats x {args.iterations + 1} evaluations, BBOB dim 5 instance 1",
             "", "| function | second: median regret | fresh: median regret | second vs fresh |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| f{r['fid']} | {_g(r['second_median_regret'])} | {_g(r['fresh_median_regret'])} | "
                     f"{r['verdict']} |")
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("better", "tie", "worse")}
    lines += ["", f"second better than fresh on {counts['better']} of {len(rows)} functions, tied on {counts['tie']}, "
              f"worse on {counts['worse']}", "",
              "| function | proven mechanism | first: mean [interval] / runs | fresh ablation (fresh seeds, same "
              "start) | same sign | second ablation (fresh seeds, after a recall) | same sign |",
              "|---|---|---|---|---|---|---|"]
    for p in proven:
        low, high = p["first_interval"]
        first = f"{_g(p['first_mean'])} [{_g(low)}, {_g(high)}] / {p['first_runs']}"
        cells = []
        for which in ("fresh", "second"):
            cells.append("not re-measured" if p[f"{which}_mean"] is None else
                         f"{_g(p[f'{which}_mean'])} [{_g(p[f'{which}_interval'][0])}, "
                         f"{_g(p[f'{which}_interval'][1])}] / {p[f'{which}_runs']}")
            cells.append({True: "yes", False: "**no**", None: "-"}[p[f"{which}_same_sign"]])
        lines.append(f"| f{p['fid']} | {p['name']} ({p['mechanism'][:10]}) | {first} | {' | '.join(cells)} |")
    flipped = {which: sum(p[f"{which}_same_sign"] is False for p in proven) for which in ("fresh", "second")}
    lines += ["", f"{len(proven)} proven mechanisms; re-measured with the other sign: {flipped['fresh']} in the "
              f"fresh ablation (the same start), {flipped['second']} in the second (after a recall)"]
    return "\n".join(lines) + "\n"


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--functions", type=_int_list, default=list(FUNCTIONS), help="BBOB ids (default the protocol's ten)")
    p.add_argument("--group", default="C", choices=("C", "D"), help="a group with Level 2 (C)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iterations", type=int, default=99, help="per run after the baseline trial (99: 100 evaluations)")
    p.add_argument("--seed", type=int, default=0, help="master seed of the second and fresh ablations (0)")
    p.add_argument("--first-seed", type=int, default=1000, help="master seed of the first ablation (1000)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--work-dir", type=Path, default=Path("runs/archive-memory"))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/archive_memory.json")
    args = p.parse_args()
    try:
        ioh = import_ioh()
    except UsageError as exc:
        raise SystemExit(str(exc)) from None
    args.work_dir = args.work_dir.resolve()
    t0 = time.monotonic()
    rows, proven, seconds = [], [], {}
    for fid in args.functions:
        (args.work_dir / f"f{fid}").mkdir(parents=True, exist_ok=True)
        for which in ABLATIONS:  # first before second: the second must see what the first measured
            seconds[f"f{fid}/{which}"] = ablate(fid, which, args)
        optimum = float(ioh.get_problem(fid, 1, 5).optimum.y)
        medians = {}
        for which in ("second", "fresh"):
            summary = json.loads((args.work_dir / f"f{fid}" / which / "summary.json").read_text())
            values = bests(summary, args.group)
            medians[which] = statistics.median(values) - optimum if values else None
        rows.append({"fid": fid, "second_median_regret": medians["second"], "fresh_median_regret": medians["fresh"],
                     "verdict": verdict(medians["second"], medians["fresh"])})
        proven += [{"fid": fid, **e} for e in effects(fid, args)]
        print(f"f{fid}: second {_g(medians['second'])} fresh {_g(medians['fresh'])}", file=sys.stderr, flush=True)
    text = markdown(rows, proven, args)
    print(text)
    result = {"command": " ".join(["python", "benchmarks/archive_memory.py", *sys.argv[1:]]),
              "group": args.group, "repeats": args.repeats, "iterations": args.iterations, "seed": args.seed,
              "first_seed": args.first_seed, "functions": rows, "proven": proven,
              "second_better": sum(r["verdict"] == "better" for r in rows),
              "second_tied": sum(r["verdict"] == "tie" for r in rows),
              "sign_flips": sum(p["fresh_same_sign"] is False for p in proven),
              "sign_flips_after_recall": sum(p["second_same_sign"] is False for p in proven), "seconds": seconds,
              "total_s": time.monotonic() - t0, "python": platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, json.dumps(result, indent=2).encode())
    atomic_write_bytes(args.out.with_suffix(".md"), text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
