"""`evolve`: the command line. Every error becomes one message naming the fix and an exit code."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bilevel_evolve.engine.cli.ablate import add_ablate_parser
from bilevel_evolve.engine.cli.archive import add_archive_parser
from bilevel_evolve.engine.cli.archive_add import add_archive_add_action
from bilevel_evolve.engine.cli.replay import add_replay_parser
from bilevel_evolve.engine.ui.cli import add_ui_parser
from bilevel_evolve.engine.wiring.run_options import RUN_OPTIONS
from bilevel_evolve.ground.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EvolveError, UsageError
from bilevel_evolve.ground.untrusted import for_terminal

if TYPE_CHECKING:
    from bilevel_evolve.engine.run.loop import LoopOutcome

DEFAULT_RUNS_ROOT = Path("runs")
ERROR_CHARS = 20_000  # an error as printed (a rejection quotes the whole vetting report)


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    from bilevel_evolve.domains.registry import list_domains

    domains = "\n".join(f"  {form:<34} {summary}" for form, summary in list_domains())
    p = sub.add_parser("run", help="start a new run", description="Start a new run.",
                       epilog=f"domains (--domain):\n{domains}", formatter_class=argparse.RawDescriptionHelpFormatter)
    RUN_OPTIONS.add_run_flags(p)
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from bilevel_evolve.engine.run.runner import default_run_id, start_run

    if not args.domain:
        raise UsageError("--domain is required", "e.g. --domain function:branin (see `evolve run --help`)")
    run_id = default_run_id(args.domain, args.seed) if args.run_dir is None else args.run_dir.name
    try:
        config = RUN_OPTIONS.run_config(vars(args), run_id=run_id)
    except ValidationError as exc:
        raise UsageError(_validation_message(exc), "see `evolve run --help`") from None
    run_dir = args.run_dir or DEFAULT_RUNS_ROOT / run_id
    outcome = start_run(config, run_dir, progress=not args.no_progress, user_mechanisms=args.mechanism)
    return _finish(outcome, run_dir)


RESUME_EPILOG = """\
A run that crashed, was killed or interrupted, or stopped (fail-fast, LLM budget) goes on where its
last checkpoint left it: nothing lost, nothing repeated. A finished run (checkpoint `completed`) is
nothing to do (exit 0) unless --iterations raises its total.

--iterations N extends the run to N iterations in all, in the same trace: a finished run goes on
from its last iteration (numbering continues; the trace only grows), an unfinished one towards N.
config.json records the new total (its `extensions` list says from what, to what and when) and the
trace gets a run_extended event when the extension starts. N not above what the run did (finished)
or planned (unfinished) changes nothing: said so, exit 0.

--max-cost USD raises the LLM budget of a run started with --max-cost: the way on for a run the
budget stopped. An extension whose budget is already spent is refused (nothing written) until
--max-cost raises it too. A crash during an extension is resumed with plain `evolve resume RUN`.
"""


def _add_resume_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resume", help="continue a run after a crash or interruption, or extend a finished one",
                       description="Continue a run, or extend it.", epilog=RESUME_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    RUN_OPTIONS.add_flag(p, "iterations", metavar="N",
                         help="extend the run to N search iterations in all (see below)")
    RUN_OPTIONS.add_flag(p, "max_cost", metavar="USD",
                         help="raise the run's LLM budget to USD (a run started with --max-cost)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_cmd_resume)


def _cmd_resume(args: argparse.Namespace) -> int:
    from bilevel_evolve.engine.run.extension import plan_resume
    from bilevel_evolve.engine.run.runner import resume_run
    from bilevel_evolve.engine.run.store import RunStore

    try:
        plan = plan_resume(RunStore.open(args.run_dir), iterations=args.iterations, max_cost_usd=args.max_cost)
    except ValidationError as exc:
        raise UsageError(_validation_message(exc), "see `evolve resume --help`") from None
    if plan.message:
        print(plan.message, file=sys.stderr)
    if not plan.go:
        # A scheduler that restarts a finished job (`until evolve resume ...`) must not loop on an error.
        return EXIT_OK
    outcome = resume_run(args.run_dir, progress=not args.no_progress, config=plan.config if plan.amended else None)
    return _finish(outcome, args.run_dir)


def _finish(outcome: LoopOutcome, run_dir: Path) -> int:
    from bilevel_evolve.engine.reports.run_report import report_run

    print(f"run {outcome.status} after {outcome.steps} steps: {run_dir}", file=sys.stderr)
    report_run(run_dir)
    return EXIT_OK


def _add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="summary table and plot of a run")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from bilevel_evolve.engine.reports.run_report import report_run

    report_run(args.run_dir)
    return EXIT_OK


def domain_space(spec: str | None) -> dict | None:
    """The search space of a domain spec, for vetting a mechanism against it."""
    if spec is None:
        return None
    from bilevel_evolve.domains.registry import load_domain

    return load_domain(spec).space.to_dict()


def _add_check_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="vet a mechanism: static gate, then a smoke test in a container")
    p.add_argument("mechanism", type=Path)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--gpu", action="store_true", help="smoke-test with the GPU passed through")
    p.add_argument("--out", "--report-dir", dest="report_dir", type=Path,
                   help="where to save gate.json, box.json, report.txt (default: ARCHIVE/checks/NAME with "
                   "--archive, else a new temporary directory, named in the output)")
    p.add_argument("--archive", type=Path, help="save the reports under this archive's checks/ folder")
    p.add_argument("--domain", help="smoke-test over this domain's search space (default: a generic space)")
    p.add_argument("--trace", type=Path, help="smoke-test over a recorded RUN_DIR/trace.jsonl instead")
    p.add_argument("--sandbox-runtime", metavar="NAME",
                   help="the box's Docker runtime: runsc for gVisor, where registered (default: the engine's)")
    p.set_defaults(handler=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from bilevel_evolve.sandbox.vet import check_mechanism

    if not args.mechanism.is_file():
        raise UsageError(f"{args.mechanism} is not a file", "pass the path of a mechanism .py file")
    report_dir = _check_report_dir(args)
    report = check_mechanism(args.mechanism, gpu=True if args.gpu else None, report_dir=report_dir,
                             space=domain_space(args.domain), trace=args.trace, runtime=args.sandbox_runtime)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    if not args.json:
        print(f"reports saved in {report_dir}", file=sys.stderr)
    return EXIT_OK if report.accepted else EXIT_FAILED


def _check_report_dir(args: argparse.Namespace) -> Path:
    """Where the user said, into the archive when given, or a fresh temporary directory — never
    silently into the current directory."""
    if args.report_dir is not None:
        return Path(args.report_dir)
    if args.archive is not None:
        return Path(args.archive) / "checks" / args.mechanism.stem
    return Path(tempfile.mkdtemp(prefix=f"evolve-check-{args.mechanism.stem[:40]}-"))


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_run_parser, _add_resume_parser, _add_report_parser, _add_check_parser,
    lambda sub: add_archive_parser(sub, extra_actions=[add_archive_add_action]), add_replay_parser,
    add_ablate_parser, add_ui_parser,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evolve", description="Bilevel Evolve: sandboxed bilevel autoresearch.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except EvolveError as exc:
        print(f"error: {for_terminal(exc.render(), ERROR_CHARS)}", file=sys.stderr)  # may quote a mechanism
        return exc.exit_code
    except KeyboardInterrupt:
        run_dir = getattr(args, "run_dir", None)
        hint = f" — continue with `evolve resume {run_dir}`" if run_dir else ""
        print(f"\ninterrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"])
    return f"invalid {where}: {str(err['msg']).removeprefix('Value error, ')}"


if __name__ == "__main__":
    sys.exit(main())
