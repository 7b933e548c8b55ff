"""What a Level 2 research session reads of the inner loop besides the trace analysis: the prompt the
proposer is shown, the mechanisms active now (their source, measured effect and hook counts), and
those this run rolled back or turned down, with why.

Everything here is a function of the run's state (hook timings are left out), so a resumed or
replayed session asks exactly what the cassette recorded. Mechanism sources and reasons are
untrusted output: they are fenced as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilevel_evolve.engine.agents.llm import proposer_messages
from bilevel_evolve.ground.records import SearchContext
from bilevel_evolve.ground.untrusted import for_prompt, for_prompt_name

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.briefing import Briefing
    from bilevel_evolve.engine.outer.view import LoopView, MechanismView
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.mechanism_archive.models import ArchiveEvent

TURNED_DOWN = ("rolled-back", "rejected-static", "rejected-smoke", "dead")


@dataclass(frozen=True)
class Reading:
    """How much of the loop a prompt quotes (the research prompts shorten it rung by rung to fit)."""

    proposer_share: float  # of the prompt budget, for the proposer's prompt (0: left out)
    source_chars: int  # per active mechanism's source (0: left out)
    turned_down: int  # how many rolled-back or rejected mechanisms are listed


READINGS = (Reading(0.3, 6000, 10), Reading(0.2, 3000, 6), Reading(0.12, 1500, 4), Reading(0.0, 600, 3),
            Reading(0.0, 0, 2))


def read_loop(view: LoopView, archive: Archive | None, briefing: Briefing, reading: Reading) -> str:
    """The loop section of a research prompt."""
    parts = [_proposer(view, briefing, reading), _active(view, archive, reading)]
    if archive is not None:
        parts.append(_turned_down(archive.events(run_id=view.config.run_id), archive, reading.turned_down))
    return "\n\n".join(parts)


def _proposer(view: LoopView, briefing: Briefing, reading: Reading) -> str:
    title = "### What the proposer is shown (its prompt for the next iteration"
    if reading.proposer_share <= 0:
        return f"{title})\n(left out here: the prompt's token budget)"
    ctx = SearchContext(space=view.space, direction=view.direction, iteration=view.iteration,
                        history=view.history, incumbent=view.incumbent, config=view.search_config)
    messages = proposer_messages(ctx, briefing, budget_tokens=briefing.budget.share(reading.proposer_share),
                                 brief_text="(the task brief given above)")
    user = messages[-1]["content"]
    return (f"{title}; its hints section is filled each iteration by the active mechanisms' guide hooks)\n"
            f"````\n{user.replace('````', '` ` ` `')}\n````")


def _active(view: LoopView, archive: Archive | None, reading: Reading) -> str:
    mechanisms = view.mechanisms
    if not mechanisms:
        return "### Mechanisms active now\n(none)"
    effects = _effects(archive.events(run_id=view.config.run_id)) if archive is not None else {}
    blocks = ["### Mechanisms active now (in the order their hooks are called)"]
    for mech in mechanisms:
        name = for_prompt_name(mech.name)  # the mechanism's own words
        lines = [f"#### {name} (id {mech.id[:12]})", f"- hook calls: {_stats(mech)}",
                 f"- measured effect: {effects.get(mech.id, 'not measured yet')}"]
        if archive is not None and reading.source_chars > 0 and mech.id in archive:
            lines.append(for_prompt(f"source of {name}", archive.get(mech.id).source, limit=reading.source_chars))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _stats(mech: MechanismView) -> str:
    if not mech.stats:
        return "none yet"
    return "; ".join(f"{hook} {int(s.get('calls', 0))} (changed a decision {int(s.get('changed', 0))} times)"
                     for hook, s in mech.stats.items())


def _effects(events: Sequence[ArchiveEvent]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in events:
        if e.kind == "effect":
            p = e.payload
            why = f"; {p['why']}" if p.get("why") else ""
            out[e.mechanism_id] = (f"{p.get('verdict', '?')} over {p.get('window', '?')} iterations (best "
                                   f"{_num(p.get('before'))} -> {_num(p.get('after'))}; median "
                                   f"{_num(p.get('median_before'))} -> {_num(p.get('median_after'))}){why}")
    return out


def _num(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _turned_down(events: Sequence[ArchiveEvent], archive: Archive, limit: int) -> str:
    latest: dict[str, ArchiveEvent] = {}
    for e in events:
        if e.status is not None:
            latest[e.mechanism_id] = e
    out = [e for e in latest.values() if e.status in TURNED_DOWN]
    if not out:
        return "### Mechanisms this run rolled back or turned down\n(none)"
    names = {s.id: s.name for s in archive.list(run_id=events[0].run_id)} if events else {}
    out.sort(key=lambda e: -e.seq)
    lines = [f"- {names.get(e.mechanism_id, e.mechanism_id[:12])} ({e.status}): {e.reason or 'no reason recorded'}"
             for e in out[:limit]]
    if len(out) > limit:
        lines.append(f"- ... and {len(out) - limit} more")
    return ("### Mechanisms this run rolled back or turned down, and why\n"
            + for_prompt("rollback and rejection reasons", "\n".join(lines), limit=6000))
