"""`evolve archive ...`: audit the mechanism lineage archive (list, show, lineage, diff, verify, export).

Registered by engine/cli/main.py through `add_archive_parser`. Handlers return an exit code and raise
bilevel_evolve.ground.errors exceptions for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from bilevel_evolve.ground.errors import EXIT_FAILED, EXIT_OK, UsageError
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.ground.untrusted import for_terminal
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.layout import ARCHIVE_ENV, default_archive_dir
from bilevel_evolve.mechanism_archive.models import EffectEstimate
from bilevel_evolve.mechanism_archive.terminal import lineage_tree, list_table, show_view, source_diff

PIPE_WIDTH = 160


# Adds one more `evolve archive ACTION` (e.g. `add FILE`, which needs the sandbox and lives elsewhere):
# called with the actions' subparsers and the parent parser that carries --archive.
ActionAdder = Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]


def add_archive_parser(sub: argparse._SubParsersAction, extra_actions: Sequence[ActionAdder] = ()) -> None:
    # --archive is accepted before or after the action (`archive --archive D list` or `archive list --archive D`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--archive", type=Path, default=argparse.SUPPRESS,
                        help=f"archive directory (default: ${ARCHIVE_ENV} or runs/archive)")
    p = sub.add_parser("archive", parents=[common], help="audit the mechanism lineage archive",
                       description="Audit the mechanism lineage archive.")
    actions = p.add_subparsers(dest="archive_action", required=True, metavar="ACTION")

    a = actions.add_parser("list", parents=[common],
                           help="table: id, name, status, parent, generation, effect, effect over runs, run")
    a.add_argument("--run", help="only mechanisms this run touched")
    a.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a.set_defaults(handler=_cmd_list)

    a = actions.add_parser("show", parents=[common], help="one mechanism: record, reports, history, source")
    a.add_argument("id", help="mechanism id or a unique prefix (6+ characters)")
    a.add_argument("--no-source", action="store_true", help="leave the source out")
    a.add_argument("--json", action="store_true", help="print the full record as JSON")
    a.set_defaults(handler=_cmd_show)

    a = actions.add_parser("lineage", parents=[common], help="ancestors and descendants as a tree")
    a.add_argument("id", help="mechanism id or a unique prefix")
    a.set_defaults(handler=_cmd_lineage)

    a = actions.add_parser("diff", parents=[common], help="unified diff of two mechanisms' sources")
    a.add_argument("a", help="old mechanism id or prefix")
    a.add_argument("b", help="new mechanism id or prefix")
    a.set_defaults(handler=_cmd_diff)

    a = actions.add_parser("verify", parents=[common], help="recompute every hash, check every link; exit 1 if not")
    a.add_argument("--json", action="store_true", help="print the report as JSON")
    a.set_defaults(handler=_cmd_verify)

    a = actions.add_parser("export", parents=[common], help="lineage graph as a static html site or Graphviz dot")
    a.add_argument("--format", choices=["html", "dot"], required=True)
    a.add_argument("--out", type=Path, help="html: a directory (default ARCHIVE/export); "
                                            "dot: a file or - for stdout (default ARCHIVE/export/lineage.dot)")
    a.set_defaults(handler=_cmd_export)

    for add in extra_actions:
        add(actions, common)


def open_archive(args: argparse.Namespace, *, create: bool = False) -> Archive:
    """The archive named by --archive (or the default), saying on stderr what recovery repaired."""
    archive = Archive.open(getattr(args, "archive", None) or default_archive_dir(), create=create)
    rec = archive.recovery
    if rec.temp_removed or rec.adopted:
        print(f"recovered after an interrupted write: removed {rec.temp_removed} temp entries, "
              f"indexed {len(rec.adopted)} complete objects", file=sys.stderr)
    return archive


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH  # piped to a file or another program: do not cut names at 80 columns
    return console


def _cmd_list(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        summaries = archive.list(run_id=args.run)
    if args.json:
        print(json.dumps([_with_verdicts(s.model_dump(mode="json"), s.estimates) for s in summaries], indent=2))
    elif not summaries:
        print("the archive is empty" + (f" for run {args.run}" if args.run else ""))
    else:
        _console().print(list_table(summaries))
    return EXIT_OK


def _with_verdicts(data: dict[str, Any], estimates: tuple[EffectEstimate, ...]) -> dict[str, Any]:
    """A summary's JSON with each estimate's verdict spelled out (`proven`: True, or False while it is not)."""
    data["estimates"] = [{**e.model_dump(mode="json"), "proven": e.proven} for e in estimates]
    return data


def _cmd_show(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        record = archive.get(args.id)
    if args.json:
        data = record.model_dump(mode="json")
        data["summary"] = _with_verdicts(data["summary"], record.summary.estimates)
        if args.no_source:
            data.pop("source")
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _console().print(show_view(record, with_source=not args.no_source))
    return EXIT_OK


def _cmd_lineage(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        lineage = archive.lineage(args.id)
    _console().print(lineage_tree(lineage))
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        a, b = archive.get(args.a), archive.get(args.b)
    diff = source_diff(a, b)
    if not diff:
        print(f"{a.id[:12]} and {b.id[:12]} have identical sources")
        return EXIT_OK
    console = _console()
    if not console.is_terminal:
        sys.stdout.write(diff)
        return EXIT_OK
    for line in diff.splitlines():
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        console.print(Text(line, style=style))
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:
        report = archive.verify()
    if args.json:
        print(json.dumps({"ok": report.ok, **report.model_dump(mode="json")}, indent=2))
    elif report.ok:
        print(f"archive OK: {report.mechanisms} mechanisms, {report.events} events")
    else:
        for problem in report.problems:
            print(for_terminal(problem.render()))  # a problem quotes what it found in the archive
        print(f"archive CORRUPTED: {len(report.problems)} problems in {report.mechanisms} mechanisms, "
              f"{report.events} events", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_export(args: argparse.Namespace) -> int:
    from bilevel_evolve.mechanism_archive.dot_export import lineage_dot
    from bilevel_evolve.mechanism_archive.html_export import export_html

    with open_archive(args) as archive:
        if args.format == "html":
            out_dir = args.out or archive.root / "export"
            if out_dir.exists() and not out_dir.is_dir():
                raise UsageError(f"{out_dir} is a file", "html export writes a directory: pass --out DIR")
            index = export_html(archive, out_dir)
            print(f"wrote {index} (open it in a browser)")
            return EXIT_OK
        text = lineage_dot(archive.list())
        if args.out is not None and str(args.out) == "-":
            sys.stdout.write(text)
            return EXIT_OK
        out = args.out or archive.root / "export" / "lineage.dot"
        if out.is_dir():
            raise UsageError(f"{out} is a directory", "dot export writes one file: pass --out FILE.dot")
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, text.encode("utf-8"), fsync=False)
        print(f"wrote {out} (render: dot -Tsvg {out} -o lineage.svg)")
    return EXIT_OK
