"""`evolve ablate`: the paper's groups A-D (+ baselines) x repeats, resumable, W runs at a time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from bilevel_evolve.engine.ablation.spec import GROUPS, AblationSpec, parse_baselines, parse_groups, plan
from bilevel_evolve.engine.wiring.run_options import RUN_OPTIONS
from bilevel_evolve.ground.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError
from bilevel_evolve.sandbox.engine_pool import EnginePool, parse_engines


def add_ablate_parser(sub: argparse._SubParsersAction) -> None:
    groups = "; ".join(f"{g} = levels {','.join(lv)}" for g, lv in GROUPS.items())
    p = sub.add_parser("ablate", help="the paper's ablation: groups x repeats (+ baselines), then a report",
                       description=f"Run every group x repeat as an ordinary run under OUT/runs/, then write "
                       f"OUT/report.md and plots. Groups: {groups}. Repeating the same command continues an "
                       "interrupted ablation.")
    run_flags = p.add_argument_group("passed to every run (see `evolve run --help`)")
    RUN_OPTIONS.add_ablate_flags(p, each_run=run_flags)
    p.add_argument("--groups", default="A,B,C,D", help="comma-separated, from A,B,C,D (default all)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per group (3)")
    p.add_argument("--baselines", default="", help="comma-separated: random, optuna (default none)")
    p.add_argument("--workers", type=int, default=1, help="runs at once (1); results do not depend on it")
    p.add_argument("--docker-host", action="append", metavar="URL[#slots=N,gpus=ID+ID]",
                   help="a Docker engine for the runs' sandboxes (unix://, tcp:// or ssh://); repeat for several. "
                   "Slots default to --workers. A run whose engine is lost resumes on another. See docs/scaling.md")
    p.add_argument("--out", type=Path, required=True, help="the ablation directory")
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
    options = {option.name: getattr(args, option.name) for option in RUN_OPTIONS.each_run_options()}
    try:
        return AblationSpec(domain=args.domain, groups=groups, repeats=args.repeats, iterations=args.iterations,
                            baselines=baselines, seed=args.seed, archive=str(archive), options=options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"] if x != "options")
        raise UsageError(f"invalid --{where.replace('_', '-')}: {str(err['msg']).removeprefix('Value error, ')}",
                         "see `evolve ablate --help`") from None


def with_horizon(spec: AblationSpec, out: Path) -> AblationSpec:
    """The spec with the horizon of its runs, unless --archive-horizon gave one: every run reads the archive
    as it stood when the ablation began (kept in OUT/ablation.json; None for an ablation from before
    horizons, whose runs each take their own), else as it stands now."""
    from bilevel_evolve.engine.ablation.store import is_ablation_dir, load_spec
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.mechanism_archive.layout import MARKER_FILE

    if spec.options["archive_horizon"] is not None:
        return spec
    if is_ablation_dir(out):
        horizon = load_spec(out).options.get("archive_horizon")
    elif not (Path(spec.archive) / MARKER_FILE).is_file():
        horizon = 0
    else:
        with Archive.open(spec.archive) as archive:
            horizon = archive.last_event()
    return spec.model_copy(update={"options": {**spec.options, "archive_horizon": horizon}})


def check_prerequisites(spec: AblationSpec, pool: EnginePool | None = None) -> None:
    """What would make every run fail: a bad domain, a missing library, no sandbox for Level 2."""
    from bilevel_evolve.domains.registry import DomainOptions, load_domain

    load_domain(spec.domain, DomainOptions.from_mapping(RUN_OPTIONS.domain_options(spec.options)))
    if "optuna" in spec.baselines:
        from bilevel_evolve.engine.agents.baselines import import_optuna

        import_optuna()
    needs_level2 = any("2" in run.levels for run in plan(spec))
    in_container = spec.options["mechanism_runtime"] == "container"
    if pool is not None and pool.explicit:  # every named engine that answers must hold the image
        from bilevel_evolve.sandbox.image import image_name

        for warning in pool.check(image=image_name() if needs_level2 and in_container else None):
            print(f"warning: {warning}", file=sys.stderr)
    elif needs_level2 and in_container:
        from bilevel_evolve.sandbox.image import connect, image_name, require_image

        require_image(connect(), image_name())


def _cmd_ablate(args: argparse.Namespace) -> int:
    from bilevel_evolve.engine.ablation.executor import AblationExecutor
    from bilevel_evolve.engine.ablation.store import open_or_create
    from bilevel_evolve.engine.reports.ablation_report import report_ablation

    spec = with_horizon(spec_from_args(args), args.out)
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
