"""`evolve archive add FILE`: vet a mechanism (gate -> box) and archive it with origin `user`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bilevel_evolve.ground.errors import EXIT_FAILED, EXIT_OK


def add_archive_add_action(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    a = actions.add_parser("add", parents=[common], help="vet a mechanism file (gate -> box) and archive it as user")
    a.add_argument("file", type=Path)
    a.add_argument("--run", default="cli", help="run id the archive events carry (default: cli)")
    a.add_argument("--domain", help="smoke-test over this domain's search space (default: a generic space)")
    a.set_defaults(handler=_cmd_add)


def _cmd_add(args: argparse.Namespace) -> int:
    from bilevel_evolve.engine.cli.archive import open_archive
    from bilevel_evolve.engine.cli.main import domain_space
    from bilevel_evolve.engine.outer.research.user_mechanisms import vet_and_archive

    space = domain_space(args.domain)
    with open_archive(args, create=True) as archive:
        mech_id, vetting = vet_and_archive(args.file, archive, run_id=args.run, space=space)
    print(vetting.text)
    print(f"archived {mech_id} as {vetting.status}", file=sys.stderr)
    return EXIT_OK if vetting.accepted else EXIT_FAILED
