"""The options of a run, each stated once: its flag, its help, where its value goes, what `evolve ablate` does with it.

An option's type, default and bounds are not restated here: they are those of the field it fills (a
RunConfig field, an LLMSettings field or a DomainOptions field), so a flag can never take a value its
config refuses. From this one table come the flags of `evolve run` and `evolve ablate`, the RunConfig
of a run, the options an ablation hands to every run (AblationSpec.options), and each child run's argv.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.engine.agents.factory import AGENT_FORMS
from bilevel_evolve.engine.wiring.run_config import LLMSettings, RunConfig

# What `evolve ablate` does with an option:
#   run_only  it does not take it: the plan sets it per run (levels, run directory), or no ablation offers it
#   each_run  it takes it as `evolve run` does and hands it, as given, to every run (AblationSpec.options)
#   ablation  it takes it with a meaning of its own (`ablate_help`), and its plan decides what each run gets
AblateRole = Literal["run_only", "each_run", "ablation"]
# Where a value goes: "config.FIELD" (RunConfig), "llm.FIELD" (RunConfig.llm), "domain.FIELD" (DomainOptions,
# kept in RunConfig.domain_options), or nowhere (None): the command reads it itself.
TARGETS: dict[str, type[BaseModel]] = {"config": RunConfig, "llm": LLMSettings, "domain": DomainOptions}


class _FromField:
    """The default of an option whose default is its field's."""

    def __repr__(self) -> str:
        return "FROM_FIELD"


FROM_FIELD: Any = _FromField()


@dataclass(frozen=True)
class RunOption:
    flag: str
    to: str | None = None
    help: str | None = None
    ablate: AblateRole = "run_only"
    ablate_help: str | None = None  # its help in `evolve ablate`, where it says more than `help`
    ablate_required: bool = False
    section: str | None = None  # its group in `evolve run --help`
    default: Any = FROM_FIELD  # given only where the command line has a default its field lacks
    parse: Callable[[str], Any] | None = None  # how to read the text, where the field's type does not say
    metavar: str | None = None
    switch: bool = False  # a flag without a value (store_true)
    repeatable: bool = False  # given once per value (append)

    @property
    def name(self) -> str:
        """The option's name in parsed arguments, option mappings and AblationSpec.options."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def target(self) -> tuple[str, str] | None:
        if self.to is None:
            return None
        model, _, key = self.to.partition(".")
        return model, key

    @property
    def field(self) -> FieldInfo | None:
        target = self.target
        return None if target is None else TARGETS[target[0]].model_fields[target[1]]

    def default_value(self) -> Any:
        if self.switch:
            return False
        if self.repeatable:
            return []
        if self.default is not FROM_FIELD:
            return self.default
        field = self.field
        return None if field is None or field.default is PydanticUndefined else field.default

    def argparse_kwargs(self, help_text: str | None) -> dict[str, Any]:
        if self.switch:
            return {"action": "store_true", "help": help_text}
        kwargs: dict[str, Any] = {"default": self.default_value(), "help": help_text}
        if self.repeatable:
            kwargs["action"] = "append"
        if self.metavar:
            kwargs["metavar"] = self.metavar
        parse, choices = (self.parse, None) if self.parse or self.field is None else _reader(self.flag, self.field)
        if parse is not None:
            kwargs["type"] = parse
        if choices is not None:
            kwargs["choices"] = list(choices)
        return kwargs

    def check(self) -> None:
        """Fail when the table is built (at import), not at a user's command, on an entry that cannot work."""
        target = self.target
        if target is not None and (target[0] not in TARGETS or target[1] not in TARGETS[target[0]].model_fields):
            raise ValueError(f"{self.flag}: {self.to!r} is not a RunConfig, LLMSettings or DomainOptions field")
        if self.ablate == "each_run" and target is None:
            raise ValueError(f"{self.flag}: an option handed to every run must fill a field")
        if self.field is not None and not self.parse and not self.switch:  # a switch reads no text
            _reader(self.flag, self.field)


_READERS: dict[Any, Callable[[str], Any]] = {int: int, float: float, Path: Path}


def _reader(flag: str, field: FieldInfo) -> tuple[Callable[[str], Any] | None, tuple[Any, ...] | None]:
    """argparse's type and choices for a field's annotation (None or a value of it)."""
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return None, get_args(annotation)
    if annotation is str:
        return None, None
    if annotation in _READERS:
        return _READERS[annotation], None
    raise TypeError(f"{flag}: cannot read a {annotation} from the command line; give parse=")


def split_levels(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _as_text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


class RunOptionSchema:
    """The table of run options, and everything derived from it."""

    def __init__(self, options: Iterable[RunOption]) -> None:
        self.options = tuple(options)
        for option in self.options:
            option.check()
        self._names = {o.name for o in self.options}
        if len(self._names) != len(self.options):
            raise ValueError("two run options share a name")
        self._each_run_model = create_model(
            "EachRunOptions", __config__=ConfigDict(frozen=True, extra="forbid"),
            **{o.name: _field_copy(o) for o in self.each_run_options()})

    def each_run_options(self) -> list[RunOption]:
        return [o for o in self.options if o.ablate == "each_run"]

    def add_run_flags(self, parser: argparse.ArgumentParser) -> None:
        """Every option, as `evolve run` takes it (in table order, sections as help groups)."""
        sections: dict[str, argparse._ArgumentGroup] = {}
        for option in self.options:
            where: argparse._ActionsContainer = parser
            if option.section is not None:
                where = sections.setdefault(option.section, parser.add_argument_group(option.section))
            where.add_argument(option.flag, **option.argparse_kwargs(option.help))

    def add_flag(self, parser: argparse.ArgumentParser, name: str, *, help: str, metavar: str | None = None) -> None:
        """One option on another command (`evolve resume --iterations`): the same flag and reading, its own help,
        no default (None: not given)."""
        option = next((o for o in self.options if o.name == name), None)
        if option is None:
            raise ValueError(f"no run option {name!r}")
        kwargs = option.argparse_kwargs(help) | {"default": None}
        if metavar is not None:
            kwargs["metavar"] = metavar
        parser.add_argument(option.flag, **kwargs)

    def add_ablate_flags(self, parser: argparse.ArgumentParser, each_run: argparse._ActionsContainer) -> None:
        """The options `evolve ablate` takes: its own readings on `parser`, those it hands on in `each_run`."""
        for option in self.options:
            if option.ablate == "ablation":
                parser.add_argument(option.flag, required=option.ablate_required,
                                    **option.argparse_kwargs(option.ablate_help or option.help))
            elif option.ablate == "each_run":
                each_run.add_argument(option.flag, **option.argparse_kwargs(option.ablate_help or option.help))

    def each_run(self, values: Any) -> dict[str, Any]:
        """The options an ablation hands to every run, by name, checked against the fields they fill, absent
        ones at their defaults, as JSON data (ablation.json). Raises pydantic's ValidationError."""
        return self._each_run_model.model_validate(values).model_dump(mode="json")

    def domain_options(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The domain options of these values: those that differ from the default (a domain reads only what it
        is given)."""
        return self._targets(values, only="domain")["domain"]

    def run_config(self, values: Mapping[str, Any], *, run_id: str) -> RunConfig:
        """A run's config from option values by name (every option that fills a field; other keys are
        ignored). Raises pydantic's ValidationError."""
        into = self._targets(values)
        llm = LLMSettings(**into["llm"])  # first and on its own, so its errors name its own fields
        return RunConfig(run_id=run_id, domain_options=into["domain"], llm=llm, **into["config"])

    def argv(self, values: Mapping[str, Any]) -> list[str]:
        """The `evolve run` arguments that give a run these option values by name (None, or False for a
        switch: left out)."""
        unknown = sorted(set(values) - self._names)
        if unknown:
            raise ValueError(f"not run options: {', '.join(unknown)}")
        out: list[str] = []
        for option in self.options:
            value = values.get(option.name)
            if value is None or value is False:
                continue
            if option.switch:
                out.append(option.flag)
            elif option.repeatable:
                for item in value:
                    out += [option.flag, _as_text(item)]
            else:
                out += [option.flag, _as_text(value)]
        return out

    def _targets(self, values: Mapping[str, Any], only: str | None = None) -> dict[str, dict[str, Any]]:
        into: dict[str, dict[str, Any]] = {model: {} for model in TARGETS}
        for option in self.options:
            target, field = option.target, option.field
            if target is None or field is None or only not in (None, target[0]):
                continue
            value = values[option.name]
            if isinstance(value, Path):
                value = str(value)  # config.json holds text
            if target[0] == "domain" and value == field.default:
                continue
            into[target[0]][target[1]] = value
        return into


def _field_copy(option: RunOption) -> Any:
    """(annotation with the field's bounds, the option's default), for create_model."""
    field = option.field
    assert field is not None
    annotated = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return annotated, option.default_value()


_OUTER, _LLM, _TRIALS = "outer levels", "llm agent", "parallel trials"

RUN_OPTIONS = RunOptionSchema([
    RunOption("--domain", "config.domain",
              help="function:NAME|function:FILE.py | train_opt[:TRAIN.py] | command:SPEC.json | text:ARTICLE.md",
              ablate="ablation", ablate_help="as for `evolve run`, e.g. function:branin", ablate_required=True),
    RunOption("--iterations", "config.iterations", default=30,
              help="search iterations after the baseline (%(default)s)", ablate="ablation",
              ablate_help="iterations per run after the baseline trial (%(default)s)"),
    RunOption("--levels", "config.levels", parse=split_levels, help="1 | 1,1.5 | 1,2 | 1,1.5,2 (default 1)"),
    RunOption("--agent", "config.agent", help=f"{AGENT_FORMS} (default %(default)s)", ablate="each_run",
              ablate_help="proposer of the groups: offline | llm (default %(default)s)"),
    RunOption("--seed", "config.seed", ablate="ablation",
              ablate_help="master seed; repeat r's runs all get seed(S, r)"),
    RunOption("--run-dir", parse=Path, help="default: runs/<domain>-<time>-s<seed>"),
    RunOption("--archive", "config.archive", parse=Path, help="mechanism archive directory (Level 2)",
              ablate="ablation", ablate_help="mechanism archive shared by all runs (default OUT/archive)"),
    RunOption("--acceptance", "config.acceptance", ablate="each_run"),
    RunOption("--noise-repeats", "config.noise_repeats", help="baseline repeats for noise-aware (%(default)s)",
              ablate="each_run"),
    RunOption("--noise-multiplier", "config.noise_multiplier", help="floor = k x sd of baseline (%(default)s)"),
    RunOption("--trial-timeout", "domain.trial_timeout_s", help="seconds per trial (train_opt, command)",
              ablate="each_run"),
    RunOption("--time-budget", "domain.time_budget_s", help="train_opt: training seconds per trial",
              ablate="each_run"),
    RunOption("--space", "domain.space_file", help="JSON search space replacing the domain's own",
              ablate="each_run"),
    RunOption("--rubric", "domain.rubric", metavar="RUBRIC.md", ablate="each_run",
              help="text: the rubric drafts are judged against (default: ARTICLE.rubric.md beside the article, "
              "else a built-in one)"),
    RunOption("--python", "domain.python", help="interpreter for train.py / python commands", ablate="each_run"),
    RunOption("--noise-sd", "domain.noise_sd", help="function: add seeded Gaussian noise", ablate="each_run"),
    RunOption("--workers", "config.workers", section=_TRIALS,
              help="trials in flight at once; decisions stay in proposal order, so a seeded run is reproducible "
              "for a given number (%(default)s)"),
    RunOption("--gpus", "config.gpus", parse=split_levels, metavar="ID,ID,...", section=_TRIALS,
              help="the GPUs the trials share out (default: CUDA_VISIBLE_DEVICES, else nvidia-smi -L)"),
    RunOption("--gpus-per-trial", "config.gpus_per_trial", section=_TRIALS, ablate="each_run",
              help="GPUs of each in-flight trial, never shared (default: the GPUs divided by --workers)"),
    RunOption("--executor", "config.executor", section=_TRIALS, ablate="each_run",
              help="where trials run: local (threads of this process) or ray (Ray tasks) (default %(default)s)"),
    RunOption("--ray-address", "config.ray_address", section=_TRIALS, ablate="each_run",
              help="--executor ray: HOST:PORT of the cluster, or local to start one (default RAY_ADDRESS, else local)"),
    RunOption("--level15-every", "config.level15_every", section=_OUTER,
              help="Level 1.5 cycle, in iterations (%(default)s)", ablate="each_run"),
    RunOption("--level2-every", "config.level2_every", section=_OUTER,
              help="Level 2 research session period (%(default)s); on a space with choices or ints of few values "
              "the first session comes at the first iteration", ablate="each_run"),
    RunOption("--level2-trigger", "config.level2_trigger", section=_OUTER, ablate="each_run",
              help="when a research session is called: every --level2-every iterations, or when the trace shows "
              "it is needed (stagnation, repetition, a mechanism that stopped paying) (default %(default)s)"),
    RunOption("--no-reuse", "config.no_reuse", switch=True, section=_OUTER, ablate="each_run",
              help="learn nothing from the archive's earlier runs: no proven mechanism reused, no archived parent, "
              "no archived effect in Level 2's choices (as with a fresh archive)"),
    RunOption("--archive-horizon", "config.archive_horizon", metavar="SEQ", section=_OUTER, ablate="each_run",
              help="read earlier runs' effects only up to this archive event (default: every one recorded when "
              "the run starts; evolve ablate gives all its runs the archive as it stood when it began)"),
    RunOption("--repair-rounds", "config.repair_rounds", section=_OUTER,
              help="repair rounds per rejected candidate (%(default)s)", ablate="each_run"),
    RunOption("--mechanism", parse=Path, repeatable=True, metavar="FILE", section=_OUTER,
              help="a mechanism of your own, vetted (gate -> box) and active from the first iteration; repeatable"),
    RunOption("--mechanism-runtime", "config.mechanism_runtime", section=_OUTER, ablate="each_run",
              help="where mechanism code runs: the sandbox container (default) or, for trusted "
              "code only, unconfined host processes"),
    RunOption("--mechanism-step-budget", "config.mechanism_step_budget_s", metavar="S", section=_OUTER,
              ablate="each_run", help="seconds one mechanism's hooks may take in one iteration, all together; "
              "past it the mechanism is rolled back (%(default)s)"),
    RunOption("--mechanism-run-budget", "config.mechanism_run_budget_s", metavar="S", section=_OUTER,
              ablate="each_run", help="seconds one mechanism's hooks may take over the whole run; past it the "
              "mechanism is rolled back (default: 1 s per iteration)"),
    RunOption("--mechanism-return-bytes", "config.mechanism_return_bytes", metavar="N", section=_OUTER,
              ablate="each_run", help="bytes of JSON one hook call may return; a mechanism that returns more is "
              "rolled back (%(default)s)"),
    RunOption("--provider", "llm.provider", section=_LLM, help="openai | deepseek | any name with --base-url",
              ablate="each_run"),
    RunOption("--model", "llm.model", section=_LLM, ablate="each_run"),
    RunOption("--base-url", "llm.base_url", section=_LLM, ablate="each_run"),
    RunOption("--api-key-env", "llm.api_key_env", section=_LLM, help="environment variable holding the key",
              ablate="each_run"),
    RunOption("--max-cost", "llm.max_cost_usd", section=_LLM,
              help="stop when the LLM spend would exceed this (USD)", ablate="each_run",
              ablate_help="per run: stop a run when its LLM spend would exceed this (USD)"),
    RunOption("--price", "llm.price", section=_LLM, metavar="IN,OUT",
              help="USD per million input,output tokens, for a model the price table lacks"),
    RunOption("--brief", "config.brief", parse=lambda text: str(Path(text).resolve()), metavar="FILE", section=_LLM,
              ablate="each_run",
              help="a text file about the task, added to the domain's own brief (see --brief-mode)"),
    RunOption("--brief-mode", "config.brief_mode", section=_LLM, ablate="each_run",
              help="extend: the domain's brief plus --brief; replace: --brief alone; off: no brief "
              "(default %(default)s)"),
    RunOption("--prompt-tokens", "config.prompt_tokens", section=_LLM, ablate="each_run",
              help="the most tokens one prompt may hold (estimated as characters / 4); a long history is "
              "summarized to fit (%(default)s)"),
    RunOption("--fail-fast", "config.fail_fast", metavar="K", ablate="each_run",
              help="stop the run when the baseline trial fails or the first K search trials all fail; "
              "resumable after the fix; 0: never (%(default)s)"),
    RunOption("--sandbox-runtime", "config.sandbox_runtime", metavar="NAME", section=_OUTER, ablate="each_run",
              help="the Docker runtime of the sandbox containers (smoke tests and live mechanisms): runsc for "
              "gVisor's user-space kernel, where the engine has it registered (default: the engine's, runc)"),
    RunOption("--no-progress", switch=True, ablate="ablation"),
])
