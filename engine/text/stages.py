"""Generated pipeline stages (Level 2 of a text run): mechanisms with a `stage(draft, ctx)` hook.

A stage is vetted like every mechanism (gate -> box), archived, injected into the loop's mechanism
set and run in the mechanism host. The pipeline calls the live ones at their positions: a stage's
class attribute `position` ("after:revision", "before:planning", ...), read from its source with `ast`
(the engine never imports a mechanism), after the revision when it names none. What a stage returns
is checked (a str of at most 64 KiB, not empty); a stage that raises, stalls or returns anything else
is rolled back by the mechanism set, and the draft goes on as it was before that stage.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

import structlog

from bilevel_evolve.engine.text.pipeline import GeneratedStages, Work
from bilevel_evolve.ground.contract.interface import DEFAULT_STAGE_POSITION, PIPELINE_STAGES
from bilevel_evolve.ground.records import SearchContext

if TYPE_CHECKING:
    from bilevel_evolve.engine.run.loop import InnerLoop

log = structlog.get_logger(__name__)
POSITIONS = frozenset(f"{when}:{stage}" for when in ("before", "after") for stage in PIPELINE_STAGES)


def stage_position(source: str) -> str:
    """The `position = "..."` class attribute of the module's MECHANISM class (the default when absent)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return DEFAULT_STAGE_POSITION
    named = next((node.value.id for node in tree.body if isinstance(node, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "MECHANISM" for t in node.targets)
                  and isinstance(node.value, ast.Name)), None)
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name != named:
            continue
        for item in node.body:
            if not isinstance(item, ast.Assign) or not any(isinstance(t, ast.Name) and t.id == "position"
                                                           for t in item.targets):
                continue
            if isinstance(item.value, ast.Constant) and isinstance(item.value.value, str):
                return item.value.value if item.value.value in POSITIONS else DEFAULT_STAGE_POSITION
    return DEFAULT_STAGE_POSITION


class StageRunner:
    """The loop's live stage mechanisms, run where each belongs in the pipeline."""

    def __init__(self, loop: InnerLoop) -> None:
        self.loop = loop
        self._positions: dict[str, str] = {}

    def for_step(self, ctx: SearchContext) -> GeneratedStages | None:
        mechanisms = self.loop.mechanisms
        if mechanisms is None or not self.loop.state.search_config.mechanisms_enabled:
            return None
        step = ctx.iteration + self.loop.config.baseline_steps - 1  # the step this proposal is for

        def run(position: str, work: Work) -> None:
            for mech in [m for m in mechanisms.active if "stage" in m.hooks]:
                if self._position(mech.id) != position:
                    continue
                revised = mechanisms.stage(ctx, mech.id, work.draft, step)
                if revised is None:  # it failed and was rolled back: the draft stays as it was
                    continue
                work.stages.append(f"mechanism:{mech.name}")
                if revised != work.draft:
                    work.edits.append(f"stage {mech.name} -> all: {_changed(work.draft, revised)}")
                    work.draft = revised

        return run

    def _position(self, mech_id: str) -> str:
        if mech_id not in self._positions:
            source = self.loop.mechanism_source
            text = source(mech_id).text() if source is not None else ""
            self._positions[mech_id] = stage_position(text)
            log.info("stage_position", mechanism=mech_id[:12], position=self._positions[mech_id])
        return self._positions[mech_id]


def _changed(before: str, after: str) -> str:
    old, new = before.splitlines(), after.splitlines()
    differing = sum(a != b for a, b in zip(old, new, strict=False)) + abs(len(old) - len(new))
    return f"changed {differing} of {len(old)} lines"
