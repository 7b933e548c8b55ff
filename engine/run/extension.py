"""What `evolve resume RUN [--iterations N] [--max-cost USD]` does with a run: go on as it is, raise its
limits first (an extension), or nothing at all (said why, exit 0, the run directory untouched).

A run's checkpoint is `running` until the run reaches its total and `completed` after; a stop on the
LLM budget (--max-cost) or a fail-fast stop leaves it `running` (resumable), as does a kill. The
rules, in one place:

- no option: a completed run is nothing to do; any other goes on.
- `--iterations N` raises the run's total to N iterations: a completed run that did fewer than N goes on
  from where it ended (the same trace, nothing repeated), an unfinished one goes on towards N. N at or
  below what the run did (completed) or planned (unfinished) changes nothing.
- `--max-cost USD` raises the LLM budget of a run that has one; it is how a run stopped by the budget
  goes on. Alone, it does not extend a completed run.
- an extension of a run whose LLM spend already reached its budget is refused before anything is
  written: it would stop at its first LLM call. The error names the flag that raises the budget.

An accepted raise is appended to the config's `extensions` and config.json is replaced atomically;
the loop traces a `run_extended` event when the extension starts (engine.run.loop), and only then
does a completed checkpoint become `running` again. A crash in between leaves a completed checkpoint
short of the config's total: a plain `evolve resume` then starts the recorded extension.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bilevel_evolve.engine.run.store import Checkpoint, RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig, RunExtension
from bilevel_evolve.ground.errors import UsageError


@dataclass(frozen=True)
class ResumePlan:
    config: RunConfig  # what the resumed run runs with: config.json as it is, or with the raised limits
    amended: bool  # config differs from config.json: it is written just before the loop resumes
    go: bool  # False: nothing to do; the run directory is left exactly as it is
    message: str  # what to tell the user (may be empty)


def plan_resume(store: RunStore, *, iterations: int | None = None, max_cost_usd: float | None = None,
                now: datetime | None = None) -> ResumePlan:
    """Decide what a resume does; writes nothing. Raises pydantic's ValidationError for a value the run's
    config cannot hold (iterations below 1 or above its bound, a budget not above 0), UsageError for an
    extension its LLM budget cannot pay for."""
    config = store.config()
    checkpoint = store.load_checkpoint()
    run = store.path
    _check_bounds(config, iterations, max_cost_usd)  # first: --iterations 0 is an error, not a no-op
    finished = checkpoint is not None and checkpoint.status != "running"
    steps_done = checkpoint.steps_done if checkpoint is not None else 0
    done = max(0, steps_done - config.baseline_steps)  # iterations decided
    pending = finished and steps_done < config.total_steps  # an extension recorded, not started (a crash)
    notes: list[str] = []

    new_iterations = config.iterations
    if iterations is not None:
        floor = done if finished else config.iterations
        if iterations > floor:
            new_iterations = iterations
        elif finished:
            notes.append(f"run {run} already did {done} iterations; --iterations {iterations} does not extend it")
        else:
            notes.append(f"run {run} is planned for {config.iterations} iterations ({done} done); "
                         f"--iterations {iterations} does not raise that")
    old_cost = config.llm.max_cost_usd
    new_cost = old_cost
    if max_cost_usd is not None:
        if old_cost is None:
            notes.append(f"run {run} has no LLM budget (it was started without --max-cost): --max-cost "
                         f"{max_cost_usd:g} has nothing to raise")
        elif max_cost_usd > old_cost:
            new_cost = max_cost_usd
        else:
            notes.append(f"run {run}'s LLM budget is ${old_cost:g}; --max-cost {max_cost_usd:g} does not raise it")
    changed = new_iterations != config.iterations or new_cost != old_cost
    total = config.baseline_steps + new_iterations
    if finished and total <= steps_done:
        if new_cost != old_cost:
            notes.append(f"--max-cost alone does not extend a finished run; its budget stays ${old_cost:g}")
        status = checkpoint.status if checkpoint is not None else "completed"
        ended = (f"run {run} already ended ({status}, {steps_done} steps, {done} iterations): nothing to do; "
                 f"extend it with `evolve resume {run} --iterations N` (N > {done}); "
                 f"its results: `evolve report {run}`")
        return ResumePlan(config, False, False, "\n".join([*notes, ended]))
    if (iterations is not None or max_cost_usd is not None) and not changed and not pending:
        nothing = f"nothing changed; continue the run as planned with `evolve resume {run}`"
        return ResumePlan(config, False, False, "\n".join([*notes, nothing]))
    if not changed:
        if pending:
            notes.append(f"run {run} ended after {done} iterations; continuing its extension to "
                         f"{config.iterations} that config.json records")
        return ResumePlan(config, False, True, "\n".join(notes))
    extension = RunExtension(at=(now or datetime.now(UTC)).isoformat(timespec="seconds"), steps_done=steps_done,
                             iterations_before=config.iterations, iterations=new_iterations,
                             max_cost_before=old_cost, max_cost_usd=new_cost)
    amended = config.model_copy(update={"iterations": new_iterations,
                                        "llm": config.llm.model_copy(update={"max_cost_usd": new_cost}),
                                        "extensions": (*config.extensions, extension)})
    if new_iterations != config.iterations and (refused := _over_budget(run, amended, checkpoint)) is not None:
        raise UsageError("\n".join([*notes, refused.problem]), refused.fix)
    if new_iterations != config.iterations:
        notes.append(f"extending run {run} from {config.iterations} to {new_iterations} iterations "
                     f"({done} done)")
    if new_cost != old_cost:
        notes.append(f"raising run {run}'s LLM budget from ${old_cost:g} to ${new_cost:g}")
    return ResumePlan(amended, True, True, "\n".join(notes))


def _check_bounds(config: RunConfig, iterations: int | None, max_cost_usd: float | None) -> None:
    """The values asked for, checked against the bounds of the fields they would fill."""
    raw = config.model_dump()
    if iterations is not None:
        raw["iterations"] = iterations
    if max_cost_usd is not None:
        raw["llm"]["max_cost_usd"] = max_cost_usd
    RunConfig.model_validate(raw)


def llm_spent_usd(checkpoint: Checkpoint | None) -> float | None:
    """The run's LLM spend at its checkpoint (the proposer's client keeps the totals), if it has a client."""
    if checkpoint is None:
        return None
    client = checkpoint.agent_state.get("client")
    if not isinstance(client, dict):
        return None
    spent = client.get("cost_usd")
    return float(spent) if isinstance(spent, int | float) else None


def _over_budget(run: Path, config: RunConfig, checkpoint: Checkpoint | None) -> UsageError | None:
    """Why an extension its LLM budget cannot pay a single call of is refused (the client stops at spent >=
    budget), or None."""
    budget = config.llm.max_cost_usd
    spent = llm_spent_usd(checkpoint)
    if budget is None or spent is None or spent < budget:
        return None
    return UsageError(
        f"run {run} has spent ${spent:.4f} of its LLM budget (--max-cost ${budget:g}): an extension would stop "
        "at its first LLM call; nothing was changed",
        f"raise the budget with it: `evolve resume {run} --iterations {config.iterations} --max-cost USD` "
        f"(USD above {spent:.4f})")
