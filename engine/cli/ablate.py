"""`evolve ablate`: the paper's groups A-D (+ baselines) x repeats, resumable, W runs at a time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from bilevel_evolve.engine.ablation.spec import GROUPS, AblationSpec, RunOptions, parse_baselines, parse_groups, plan
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.sandbox.engine_pool import EnginePool, parse_engines

EXIT_OK, EXIT_INTERRUPTED = 0, 130


def add_ablate_parser(sub: argparse._SubParsersAction) -> None:
    groups = "; ".join(f"{g} = levels {','.join(lv)}" for g, lv in GROUPS.items())
    p = sub.add_parser("ablate", help="the paper's ablation: groups x repeats (+ baselines), then a report",
                       description=f"Run every group x repeat as an ordinary run under OUT/runs/, then write "
                       f"OUT/report.md and plots. Groups: {groups}. Repeating the same command continues an "
                       "interrupted ablation.")
    p.add_argument("--domain", required=True, help="as for `evolve run`, e.g. function:branin")
    p.add_argument("--groups", default="A,B,C,D", help="comma-separated, from A,B,C,D (default all)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per group (3)")
    p.add_argument("--iterations", type=int, default=30, help="iterations per run after the baseline trial (30)")
    p.add_argument("--baselines", default="", help="comma-separated: random, optuna (default none)")
    p.add_argument("--workers", type=int, default=1, help="runs at once (1); results do not depend on it")
    p.add_argument("--docker-host", action="append", metavar="URL[#slots=N,gpus=ID+ID]",
                   help="a Docker engine for the runs' sandboxes (unix://, tcp:// or ssh://); repeat for several. "
                   "Slots default to --workers. A run whose engine is lost resumes on another. See docs/scaling.md")
    p.add_argument("--out", type=Path, required=True, help="the ablation directory")
    p.add_argument("--seed", type=int, default=0, help="master seed; repeat r's runs all get seed(S, r)")
    p.add_argument("--archive", type=Path, help="mechanism archive shared by all runs (default OUT/archive)")
    p.add_argument("--agent", default="offline", help="proposer of the groups: offline | llm (default offline)")
    p.add_argument("--no-progress", action="store_true")
    run = p.add_argument_group("passed to every run (see `evolve run --help`)")
    run.add_argument("--acceptance", choices=["strict", "noise-aware"], default="strict")
    run.add_argument("--noise-repeats", type=int, default=3)
    run.add_argument("--level15-every", type=int, default=5)
    run.add_argument("--level2-every", type=int, default=8)
    run.add_argument("--repair-rounds", type=int, default=2)
    run.add_argument("--mechanism-runtime", choices=["container", "host"], default="container")
    run.add_argument("--trial-timeout", type=float)
    run.add_argument("--time-budget", type=float)
    run.add_argument("--space", type=Path)
    run.add_argument("--noise-sd", type=float, default=0.0)
    run.add_argument("--python")
    run.add_argument("--provider", default="openai")
    run.add_argument("--model")
    run.add_argument("--base-url")
    run.add_argument("--api-key-env")
    run.add_argument("--max-cost", type=float, help="per run (USD)")
    p.set_defaults(handler=_cmd_ablate)


def spec_from_args(args: argparse.Namespace) -> AblationSpec:
    """Validate every flag; UsageError (exit 2) before anything is written."""
    groups = parse_groups(args.groups)
    baselines = parse_baselines(args.baselines)
    if args.agent.split(":", 1)[0] not in ("offline", "llm", "replay"):
        raise UsageError(f"--agent {args.agent} cannot drive the groups",
                         "use --agent offline or llm; random search and TPE go in --baselines")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {args.workers})", "e.g. --workers 2")
    archive = (args.archive or args.out / "archive").resolve()
    try:
        options = RunOptions(
            agent=args.agent, acceptance=args.acceptance, noise_repeats=args.noise_repeats,
            level15_every=args.level15_every, level2_every=args.level2_every, repair_rounds=args.repair_rounds,
            mechanism_runtime=args.mechanism_runtime, trial_timeout=args.trial_timeout, time_budget=args.time_budget,
            space=str(args.space) if args.space else None, noise_sd=args.noise_sd, python=args.python,
            provider=args.provider, model=args.model, base_url=args.base_url, api_key_env=args.api_key_env,
            max_cost=args.max_cost)
        return AblationSpec(domain=args.domain, groups=groups, repeats=args.repeats, iterations=args.iterations,
                            baselines=baselines, seed=args.seed, archive=str(archive), options=options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"] if x != "options")
        raise UsageError(f"invalid --{where.replace('_', '-')}: {str(err['msg']).removeprefix('Value error, ')}",
                         "see `evolve ablate --help`") from None


def check_prerequisites(spec: AblationSpec, pool: EnginePool | None = None) -> None:
    """What would make every run fail: a bad domain, a missing library, no sandbox for Level 2."""
    from bilevel_evolve.domains.registry import DomainOptions, load_domain

    o = spec.options
    load_domain(spec.domain, DomainOptions.from_mapping({k: v for k, v in {
        "trial_timeout_s": o.trial_timeout, "time_budget_s": o.time_budget, "space_file": o.space,
        "python": o.python, "noise_sd": o.noise_sd or None}.items() if v is not None}))
    if "optuna" in spec.baselines:
        from bilevel_evolve.engine.agents.baselines import import_optuna

        import_optuna()
    needs_level2 = any("2" in run.levels for run in plan(spec))
    if pool is not None and pool.explicit:  # every named engine that answers must hold the image
        from bilevel_evolve.sandbox.image import image_name

        for warning in pool.check(image=image_name() if needs_level2 and o.mechanism_runtime == "container"
                                  else None):
            print(f"warning: {warning}", file=sys.stderr)
    elif needs_level2 and o.mechanism_runtime == "container":
        from bilevel_evolve.sandbox.image import connect, image_name, require_image

        require_image(connect(), image_name())


def _cmd_ablate(args: argparse.Namespace) -> int:
    from bilevel_evolve.engine.ablation.executor import AblationExecutor
    from bilevel_evolve.engine.ablation.store import open_or_create
    from bilevel_evolve.engine.reports.ablation_report import report_ablation

    spec = spec_from_args(args)
    pool = EnginePool(parse_engines(args.docker_host, args.workers))
    check_prerequisites(spec, pool)
    continuing = open_or_create(args.out, spec)
    runs = len(plan(spec))
    at_once = f"on {pool.describe()}" if pool.explicit else f"{args.workers} at a time"
    print(f"{'continuing' if continuing else 'starting'} ablation in {args.out}: {runs} runs, {at_once}",
          file=sys.stderr)
    try:
        AblationExecutor(spec, args.out, workers=args.workers, progress=not args.no_progress, engines=pool).run()
    except KeyboardInterrupt:
        print(f"\ninterrupted — repeat the same command to continue the ablation in {args.out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    report_ablation(args.out)
    return EXIT_OK
