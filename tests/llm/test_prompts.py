"""Prompt templates load as package data of the installed namespace, from any working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROMPTS = Path(__file__).resolve().parents[2] / "engine" / "prompts"


def test_every_template_loads_outside_the_repository(tmp_path: Path) -> None:
    names = sorted(p.stem for p in PROMPTS.glob("*.md"))
    assert names
    code = ("import sys; from bilevel_evolve.engine.llm.prompts import load_prompt\n"
            "for name in sys.argv[1:]: assert load_prompt(name).strip(), name\n")
    # -I: no script directory on sys.path, so a stray top-level `engine` cannot stand in for the package.
    done = subprocess.run([sys.executable, "-I", "-c", code, *names], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
