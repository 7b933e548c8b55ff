"""The run options table: one entry gives `evolve run` and `evolve ablate` a flag, an ablation a value to hold,
and each child run the same value through its argv."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from bilevel_evolve.engine.ablation.executor import run_command
from bilevel_evolve.engine.ablation.spec import AblationSpec, plan
from bilevel_evolve.engine.cli.ablate import spec_from_args
from bilevel_evolve.engine.cli.main import build_parser, main
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.engine.wiring.run_options import RUN_OPTIONS, RunOption, RunOptionSchema

# DomainOptions.num_threads has no flag today: giving it one is one entry in the table.
NUM_THREADS = RunOption("--num-threads", "domain.num_threads", help="CPU threads per trial", ablate="each_run")


def _parsers(schema: RunOptionSchema) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    run, ablate = argparse.ArgumentParser(), argparse.ArgumentParser()
    schema.add_run_flags(run)
    schema.add_ablate_flags(ablate, each_run=ablate.add_argument_group("passed to every run"))
    return run, ablate


def _child_config(argv: list[str]) -> RunConfig:
    """The config `evolve run` makes of a child's argv (without starting the run)."""
    args = build_parser().parse_args(argv[3:])
    return RUN_OPTIONS.run_config(vars(args), run_id=args.run_dir.name)


def test_an_option_added_to_the_table_reaches_run_ablate_and_the_child_runs_config() -> None:
    schema = RunOptionSchema([*RUN_OPTIONS.options, NUM_THREADS])
    run, ablate = _parsers(schema)
    assert run.parse_args(["--num-threads", "4"]).num_threads == 4

    ablate_args = ablate.parse_args(["--domain", "function:branin", "--num-threads", "4"])
    held = schema.each_run({o.name: getattr(ablate_args, o.name) for o in schema.each_run_options()})
    assert held["num_threads"] == 4
    child_argv = schema.argv({**held, "domain": "function:branin", "iterations": 3, "levels": ("1", "1.5"),
                              "seed": 11, "run_dir": Path("/abl/runs/B-r1"), "archive": "/abl/archive",
                              "no_progress": True})
    assert child_argv[child_argv.index("--num-threads") + 1] == "4"

    config = schema.run_config(vars(run.parse_args(child_argv)), run_id="B-r1")
    assert config.domain_options == {"num_threads": 4}
    assert (config.levels, config.seed, config.archive) == (("1", "1.5"), 11, "/abl/archive")


def test_a_new_options_bounds_are_its_fields_own() -> None:
    schema = RunOptionSchema([*RUN_OPTIONS.options, NUM_THREADS])
    with pytest.raises(ValidationError) as err:
        schema.each_run({"num_threads": 0})  # DomainOptions: num_threads >= 1
    assert err.value.errors()[0]["loc"] == ("num_threads",)


@pytest.mark.parametrize("entry", [RunOption("--threads", "domain.no_such_field"),
                                   RunOption("--sidecar", ablate="each_run")])
def test_a_table_entry_that_cannot_work_fails_when_the_table_is_built(entry: RunOption) -> None:
    with pytest.raises(ValueError, match=entry.flag):
        RunOptionSchema([*RUN_OPTIONS.options, entry])


def test_every_option_an_ablation_holds_reaches_each_child_runs_config(tmp_path: Path) -> None:
    out = tmp_path / "abl"
    args = build_parser().parse_args([
        "ablate", "--domain", "function:branin", "--out", str(out), "--groups", "A,C", "--repeats", "1",
        "--baselines", "random", "--iterations", "7", "--seed", "9", "--agent", "llm",
        "--acceptance", "noise-aware", "--noise-repeats", "4", "--trial-timeout", "12.5", "--time-budget", "3",
        "--space", "s.json", "--python", "/usr/bin/python3", "--noise-sd", "0.1", "--level15-every", "3",
        "--level2-every", "4", "--repair-rounds", "1", "--mechanism-runtime", "host", "--provider", "deepseek",
        "--model", "m", "--base-url", "http://x", "--api-key-env", "K", "--max-cost", "2.5"])
    spec = spec_from_args(args)
    for run in plan(spec):
        config = _child_config(run_command(spec, out, run, "started", python="python"))
        assert (config.run_id, config.domain, config.iterations, config.levels, config.agent, config.seed) == (
            run.name, "function:branin", 7, run.levels, run.agent, run.seed)
        assert config.archive == str((out / "archive").resolve())
        assert (config.acceptance, config.noise_repeats, config.level15_every, config.level2_every,
                config.repair_rounds, config.mechanism_runtime) == ("noise-aware", 4, 3, 4, 1, "host")
        assert config.domain_options == {"trial_timeout_s": 12.5, "time_budget_s": 3.0, "space_file": "s.json",
                                         "python": "/usr/bin/python3", "noise_sd": 0.1}
        assert config.llm.model_dump() == {"provider": "deepseek", "model": "m", "base_url": "http://x",
                                           "api_key_env": "K", "max_cost_usd": 2.5, "price": None}
    assert run_command(spec, out, run, "resumed", python="python")[3:] == [
        "resume", str(out / "runs" / run.name), "--no-progress"]


def test_an_ablation_json_of_the_earlier_layout_is_the_same_ablation(tmp_path: Path) -> None:
    earlier = {"format_version": 1, "domain": "function:branin", "groups": ["A"], "repeats": 1, "iterations": 30,
               "baselines": [], "seed": 0, "archive": "/o/archive",
               "options": {"agent": "offline", "acceptance": "strict", "noise_repeats": 3, "level15_every": 5,
                           "level2_every": 8, "repair_rounds": 2, "mechanism_runtime": "container",
                           "trial_timeout": None, "time_budget": None, "space": "s.json", "noise_sd": 0.0,
                           "python": None, "provider": "openai", "model": None, "base_url": None,
                           "api_key_env": None, "max_cost": None}}
    loaded = AblationSpec.model_validate(json.loads(json.dumps(earlier)))
    args = build_parser().parse_args(["ablate", "--domain", "function:branin", "--out", "/o", "--groups", "A",
                                      "--repeats", "1", "--space", "s.json"])
    assert loaded == spec_from_args(args) and loaded.differences(spec_from_args(args)) == []


@pytest.mark.parametrize("flag, value, fragment", [
    ("--noise-repeats", "1", "invalid --noise-repeats: Input should be greater than or equal to 2"),
    ("--max-cost", "0", "invalid --max-cost: Input should be greater than 0"),
    ("--trial-timeout", "-1", "invalid --trial-timeout: Input should be greater than 0"),
])
def test_ablate_refuses_what_a_run_would_refuse_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                flag: str, value: str, fragment: str) -> None:
    out = tmp_path / "abl"
    assert main(["ablate", "--domain", "function:branin", "--out", str(out), flag, value]) == 2
    assert fragment in capsys.readouterr().err and not out.exists()
