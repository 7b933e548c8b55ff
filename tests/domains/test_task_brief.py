"""Each domain's task brief: what a language model is told about the task (and what it must never be)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from autoresearch_standin import copy_standin

from bilevel_evolve.domains.brief import TaskBrief
from bilevel_evolve.domains.command import CommandDomain
from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.domains.train_opt import SHIPPED_TRAIN_PY, TrainOptDomain


def sections(brief: TaskBrief) -> dict[str, str]:
    return {s.title.split(" (")[0].split(",")[0]: s.body for s in brief.sections}


def text(brief: TaskBrief) -> str:
    return brief.task + "\n" + "\n".join(f"{s.title}\n{s.body}" for s in brief.sections)


def test_the_autoresearch_brief_has_the_constants_with_comments_the_metric_contract_budget_and_program_md(
        tmp_path: Path) -> None:
    brief = TrainOptDomain(copy_standin(tmp_path / "ar")).brief()
    assert brief.metric == "val_bpb"
    by_title = sections(brief)
    constants = next(body for title, body in by_title.items() if title.startswith("The constants of train.py"))
    assert "DEVICE_BATCH_SIZE = 128  # per-device batch size (reduce if OOM)" in constants
    assert "TOTAL_BATCH_SIZE = 2**19 # ~524K tokens per optimizer step" in constants
    assert "# Model architecture" in constants  # the comments between the constants come along
    assert "`val_bpb: X`" in by_title["The metric"] and "lower is better" in by_title["The metric"]
    budget = by_title["Time budget"]
    assert "300 seconds" in budget and "prepare.py" in budget and "fixed wall-clock budget" in budget
    assert "TIME_BUDGET = 300        # training time budget in seconds (5 minutes)" in text(brief)
    assert "Trials run on this machine" in by_title["Hardware"]
    assert "ADAM_BETA1 is ADAM_BETAS[0]" in text(brief)
    assert "VRAM is a soft constraint" in by_title["program.md"]
    rest = next(s for s in brief.sections if s.title.startswith("The rest of train.py"))
    assert not rest.whole and "from kernels import get_kernel" in rest.body
    assert "per-device batch size" not in rest.body  # the constants are shown once, above
    assert "Autoresearch pretraining script" in by_title["What train.py says about itself"]


def test_a_program_md_that_is_not_utf8_is_decoded_with_replacement_and_says_so(tmp_path: Path) -> None:
    train = copy_standin(tmp_path / "ar")
    (train.parent / "program.md").write_bytes("budget: 5 minutes \xe9t\xe9".encode("latin-1"))
    notes = next(s for s in TrainOptDomain(train).brief().sections if s.title.startswith("program.md"))
    assert "not valid UTF-8" in notes.title and "\ufffd" in notes.body and "5 minutes" in notes.body


def test_a_binary_program_md_is_left_out_with_a_note(tmp_path: Path) -> None:
    train = copy_standin(tmp_path / "ar")
    (train.parent / "program.md").write_bytes(b"\x00\x01\x02 binary")
    notes = next(s for s in TrainOptDomain(train).brief().sections if s.title.startswith("program.md"))
    assert "binary data" in notes.body and "left out" in notes.body


def test_the_shipped_gpt_brief_names_its_own_budget_and_leaves_no_program_md() -> None:
    brief = TrainOptDomain(SHIPPED_TRAIN_PY).brief()
    assert "20 seconds (TIME_BUDGET = 20 s in train.py)" in sections(brief)["Time budget"]
    assert not any(s.title.startswith("program.md") for s in brief.sections)


def test_a_builtin_benchmark_brief_gives_nothing_away() -> None:
    for name in ("branin", "hartmann6", "toytrain"):
        brief = load_domain(f"function:{name}").brief()
        assert brief.sections == ()
        words = text(brief).lower()
        assert name not in words and "minimum" not in words and "0.397887" not in words


def test_a_user_objective_brief_is_its_docstring_never_its_source(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text('"""Latency of my service in ms; the cache size matters most."""\n'
                    'SECRET = 42\nSPACE = {"x": {"type": "float", "low": 0, "high": 1, "default": 0.5}}\n'
                    'def objective(params):\n    return (params["x"] - 0.123) ** 2\n')
    brief = load_domain(f"function:{path}").brief()
    assert "the cache size matters most" in text(brief)
    assert "0.123" not in text(brief) and "SECRET" not in text(brief)


def test_a_command_brief_is_the_specs_description_and_how_a_trial_runs(tmp_path: Path) -> None:
    spec = {"command": ["python", "bench.py"], "space": {"n": {"type": "int", "low": 1, "high": 8, "default": 2}},
            "metric_regex": "score: ([0-9.]+)", "description": "A compression benchmark: score is the ratio."}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    brief = CommandDomain(tmp_path / "spec.json").brief()
    assert "A compression benchmark: score is the ratio." in text(brief)
    assert "--name value arguments" in text(brief) and "score: ([0-9.]+)" in text(brief)
    del spec["description"]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert "no description field" in CommandDomain(tmp_path / "spec.json").brief().task


def test_the_hardware_line_names_the_gpus_nvidia_smi_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559 MiB'\necho 'NVIDIA H100 80GB HBM3, 81559 MiB'\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    hardware = sections(TrainOptDomain(SHIPPED_TRAIN_PY).brief())["Hardware"]
    assert hardware.startswith("Trials run on this machine: 2 x GPU NVIDIA H100 80GB HBM3, 81559 MiB, and ")
