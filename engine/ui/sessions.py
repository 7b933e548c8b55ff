"""Research sessions: the trace's account (diagnosis, hypotheses, candidates) joined with the LLM's
prompts and answers from the run's cassette, where the session was the model's."""

from __future__ import annotations

from typing import Any

from bilevel_evolve.engine.llm.cassette import CassetteEntry
from bilevel_evolve.engine.run.events import Event, ResearchSessionEvent

LEVEL2 = "level2/"
SESSION_OPENER = "level2/explore"  # round 1: every LLM research session starts with it


def research_sessions(events: list[Event], exchanges: list[CassetteEntry]) -> list[dict[str, Any]]:
    """Each session in trace order. The cassette holds no session id, so its Level 2 exchanges are cut
    into sessions at each round-1 call and given, in order, to the sessions the LLM ran; any left
    over (a session cut short before the trace recorded it) follow as sessions of their own."""
    groups = _level2_groups(exchanges)
    out = []
    for e in events:
        if not isinstance(e, ResearchSessionEvent):
            continue
        own = groups.pop(0) if e.source == "llm" and groups else []
        out.append({"session_id": e.session_id, "step": e.step, "iteration": e.iteration, "source": e.source,
                    "chosen": e.chosen, "diagnosis": e.diagnosis, "hypotheses": list(e.hypotheses),
                    "candidates": list(e.candidates), "exchanges": [_exchange(x) for x in own]})
    for rest in groups:
        out.append({"session_id": "(not in the trace)", "step": None, "iteration": None, "source": "llm",
                    "chosen": "", "diagnosis": {}, "hypotheses": [], "candidates": [],
                    "exchanges": [_exchange(x) for x in rest]})
    return out


def _level2_groups(exchanges: list[CassetteEntry]) -> list[list[CassetteEntry]]:
    groups: list[list[CassetteEntry]] = []
    for entry in exchanges:
        if not entry.purpose.startswith(LEVEL2):
            continue
        if entry.purpose == SESSION_OPENER or not groups:
            groups.append([])
        groups[-1].append(entry)
    return groups


def _exchange(entry: CassetteEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "purpose": entry.purpose, "model": entry.request.model,
            "messages": list(entry.request.messages), "response": entry.response,
            "finish_reason": entry.finish_reason, "cost_usd": entry.cost_usd, "latency_s": entry.latency_s,
            "recorded_at": entry.recorded_at}
