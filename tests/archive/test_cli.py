from __future__ import annotations

import json
from pathlib import Path

import pytest
from archive_support import add, mechanism_source, run_archive_cli

from bilevel_evolve.mechanism_archive.archive import Archive


@pytest.fixture
def family(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "archive"
    with Archive.open(root, create=True) as arch:
        a = add(arch, "base", name="tabu")
        b = add(arch, "next", name="bandit", parents=(a.id,),
                source=mechanism_source("next", "        return {'x': 0.5}"))
        c = add(arch, "gp", name="gp-surrogate", parents=(b.id,), status="rejected-smoke", reason="no sklearn")
        arch.record_effect(b.id, run_id="run-a", effect={"delta": -0.25, "verdict": "improved"})
    return root, [a.id, b.id, c.id]


def test_list_prints_a_table_of_every_mechanism(family: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
                                                ) -> None:
    root, ids = family
    assert run_archive_cli(["archive", "--archive", str(root), "list"]) == 0
    out = capsys.readouterr().out
    for mid, name in zip(ids, ["tabu", "bandit", "gp-surrogate"], strict=True):
        line = next(line for line in out.splitlines() if mid[:12] in line)
        assert name in line
    assert "rejected-smoke" in out and "-0.25 improved" in out


def test_list_as_json_and_with_the_archive_flag_after_the_action(family: tuple[Path, list[str]],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root, ids = family
    assert run_archive_cli(["archive", "list", "--json", "--archive", str(root)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in data] == ids and data[2]["status"] == "rejected-smoke"


def test_the_archive_directory_defaults_to_the_environment_variable(
        family: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = family
    monkeypatch.setenv("EVOLVE_ARCHIVE", str(root))
    assert run_archive_cli(["archive", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_show_prints_record_history_and_source(family: tuple[Path, list[str]],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root, ids = family
    assert run_archive_cli(["archive", "--archive", str(root), "show", ids[2][:8]]) == 0
    out = capsys.readouterr().out
    assert ids[2] in out and "gp-surrogate" in out and "no sklearn" in out
    assert "MECHANISM = Mgp" in out and "recipe recipe-gp" in out


def test_lineage_draws_ancestors_above_and_descendants_below(family: tuple[Path, list[str]],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    root, ids = family
    assert run_archive_cli(["archive", "--archive", str(root), "lineage", ids[1][:10]]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [next(i for i, line in enumerate(lines) if mid[:12] in line) for mid in ids]
    assert rows == sorted(rows) and len(lines) == 3


def test_diff_prints_a_unified_diff_labelled_with_ids(family: tuple[Path, list[str]],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root, ids = family
    assert run_archive_cli(["archive", "--archive", str(root), "diff", ids[0][:8], ids[1][:8]]) == 0
    out = capsys.readouterr().out
    assert f"--- {ids[0][:12]} tabu" in out and f"+++ {ids[1][:12]} bandit" in out
    assert "-        return None" in out and "+        return {'x': 0.5}" in out


def test_verify_exits_zero_when_sound_and_one_when_a_source_was_tampered(
        family: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    root, ids = family
    assert run_archive_cli(["archive", "--archive", str(root), "verify"]) == 0
    assert capsys.readouterr().out.strip() == "archive OK: 3 mechanisms, 4 events"
    (root / "objects" / ids[1][:2] / ids[1] / "source.py").write_text("import os\n")
    assert run_archive_cli(["archive", "--archive", str(root), "verify"]) == 1
    captured = capsys.readouterr()
    assert f"[tampered-source] {ids[1][:12]}" in captured.out and "CORRUPTED" in captured.err


@pytest.mark.parametrize(("argv", "message"), [
    (["show", "abcdef12"], "no mechanism abcdef12"),
    (["show", "abc"], "too short"),
    (["lineage", "not-an-id"], "not a mechanism id"),
])
def test_bad_ids_are_usage_errors(family: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str],
                                  argv: list[str], message: str) -> None:
    root, _ = family
    assert run_archive_cli(["archive", "--archive", str(root), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_missing_or_newer_archive_is_a_usage_error(family: tuple[Path, list[str]], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = family
    assert run_archive_cli(["archive", "--archive", str(tmp_path / "none"), "list"]) == 2
    assert "no mechanism archive" in capsys.readouterr().err
    (root / "archive.json").write_text('{"format_version": 99}')
    assert run_archive_cli(["archive", "--archive", str(root), "verify"]) == 2
    assert "newer Bilevel Evolve" in capsys.readouterr().err


def test_hostile_names_are_printed_literally_not_as_terminal_markup(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "archive"
    with Archive.open(root, create=True) as arch:
        rec = add(arch, "h", name="[red]x[/red]", source=mechanism_source("h") + "# \x1b]0;pwned\x07 [bold]y\n")
    assert run_archive_cli(["archive", "--archive", str(root), "show", rec.id[:8]]) == 0
    out = capsys.readouterr().out
    assert "[red]x[/red]" in out and "[bold]y" in out
    assert "\x1b" not in out and "\\x1b]0;pwned\\x07" in out


def test_export_dot_to_a_file_and_to_stdout(family: tuple[Path, list[str]], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    root, ids = family
    out = tmp_path / "g.dot"
    assert run_archive_cli(["archive", "--archive", str(root), "export", "--format", "dot", "--out", str(out)]) == 0
    text = out.read_text()
    assert f'"{ids[0]}" -> "{ids[1]}";' in text and f'URL="mechanisms/{ids[2]}.html"' in text
    capsys.readouterr()
    assert run_archive_cli(["archive", "--archive", str(root), "export", "--format", "dot", "--out", "-"]) == 0
    assert capsys.readouterr().out == text


def test_export_html_defaults_to_the_archive_export_folder(family: tuple[Path, list[str]],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    root, ids = family
    assert run_archive_cli(["archive", "--archive", str(root), "export", "--format", "html"]) == 0
    assert str(root / "export" / "index.html") in capsys.readouterr().out
    assert all((root / "export" / "mechanisms" / f"{mid}.html").is_file() for mid in ids)
    assert run_archive_cli(["archive", "--archive", str(root), "verify"]) == 0


def test_other_packages_can_add_archive_actions_that_share_the_archive_flag(
        family: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from bilevel_evolve.engine.cli.archive import add_archive_parser, open_archive

    def add_count(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
        def count(args: argparse.Namespace) -> int:
            with open_archive(args) as arch:
                print(len(arch.list()))
            return 0
        actions.add_parser("count", parents=[common]).set_defaults(handler=count)

    parser = argparse.ArgumentParser(prog="evolve")
    add_archive_parser(parser.add_subparsers(dest="command"), extra_actions=[add_count])
    root, _ = family
    for argv in (["archive", "--archive", str(root), "count"], ["archive", "count", "--archive", str(root)]):
        args = parser.parse_args(argv)
        assert args.handler(args) == 0
        assert capsys.readouterr().out.strip() == "3"
