"""What the LLM scientist's research prompts say of the archive's memory: what earlier runs measured (the
explore round), and the parents a candidate is to be written from, with their sources, measured effects
and hook statistics (the specify and generate rounds). Names and sources are earlier mechanisms' own
text: they are quoted as data (ground.untrusted.for_prompt).

Both sections are empty when the archive holds nothing from earlier runs, so such a run's prompts are
the ones it was shown before the archive had a memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bilevel_evolve.ground.untrusted import for_prompt, for_prompt_name
from bilevel_evolve.mechanism_archive.models import PROVEN_RUNS

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.research.evolution import SessionPlan
    from bilevel_evolve.engine.outer.research.memory import ArchivedMechanism, ArchiveMemory

SCORE_MEANING = ("score: the median trial's move in the iterations after injection, in units of the spread of the "
                 "values the run had seen (positive helps); the interval is 95 % over runs, and an effect is proven "
                 f"with {PROVEN_RUNS}+ runs and an interval without 0")
_INSTRUCTIONS = {
    "improve": "Write the mechanism as an improved child of this parent: keep what its measured effect says works, "
               "change what the hypothesis says is missing.",
    "combine": "Write the mechanism as a combination of these parents: one class that does what each does well, "
               "their hooks composed so that neither silences the other, and the hypothesis addressed.",
}


def memory_section(memory: ArchiveMemory | None) -> str:
    """For the explore round: the archive's proven mechanisms and parents, by name and measured effect."""
    if memory is None or memory.empty:
        return ""
    lines = [f"\n\n## What earlier runs measured (the archive; {SCORE_MEANING})"]
    for title, group in (("Proven to help", memory.proven), ("Built on next (positive mean)", memory.parents)):
        if group:
            lines.append(f"{title}:")
            lines += [f"- {_name(m)}: {_effect(m)}" for m in group]
    if memory.family_scores:
        lines.append("Measured families: " + ", ".join(
            f"{for_prompt_name(f)} ({len(v)} runs)" for f, v in sorted(memory.family_scores.items())))
    return "\n".join(lines)


def plan_section(plan: SessionPlan | None, source_chars: int) -> str:
    """For the specify and generate rounds: what to write, and the parents' sources, effects and hook counts."""
    if plan is None or plan.mode == "fresh":
        return ""
    lines = [f"\n\n## Parents from the archive ({SCORE_MEANING})", _INSTRUCTIONS[plan.mode]]
    for m in plan.parents:
        lines += ["", f"### {_name(m)}", f"- measured effect: {_effect(m)}", f"- hook calls in its latest run: "
                  f"{_stats(m.hook_stats)}"]
        if source_chars > 0:
            lines.append(for_prompt(f"source of {m.name}", m.source, limit=source_chars))
    return "\n".join(lines)


def _name(m: ArchivedMechanism) -> str:
    return f"{for_prompt_name(m.name)} (id {m.id[:12]}, generation {m.generation})"


def _effect(m: ArchivedMechanism) -> str:
    where = " on similar spaces" if m.similar_space else ""
    return m.estimate.describe() + where


def _stats(stats: dict[str, dict[str, Any]]) -> str:
    if not stats:
        return "none recorded"
    return "; ".join(f"{for_prompt_name(hook)} {int(s.get('calls', 0))} (changed a decision {int(s.get('changed', 0))} "
                     "times)" for hook, s in stats.items() if isinstance(s, dict))
