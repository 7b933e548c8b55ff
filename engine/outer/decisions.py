"""What an outer controller asks of the inner loop. The loop applies each one and traces it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bilevel_evolve.engine.run.events import EffectMeasured, PipelineChanged, ResearchSessionEvent
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import SearchConfig


@dataclass(frozen=True)
class ChangeConfig:
    """Replace the search configuration (traced as ConfigChanged, with the one it replaces)."""

    config: SearchConfig
    reason: str
    source: str  # the analyst that decided it


@dataclass(frozen=True)
class Inject:
    """Load an archived mechanism into the live set. If it cannot be loaded the loop tells the
    controller that asked (OuterController.on_inject_failed) and the set stays as it was."""

    mechanism: str  # archive id
    name: str  # the candidate's name, for the record of a failed load
    source: MechanismSource = field(repr=False)


@dataclass(frozen=True)
class Rollback:
    """Take a live mechanism out of the set."""

    mechanism: str
    reason: str


@dataclass(frozen=True)
class Reject:
    """Record a candidate that never went live (rejected by vetting, or failed to load): the set stays."""

    mechanism: str
    name: str
    status: str
    reason: str


@dataclass(frozen=True)
class Record:
    """Append one of the controller's own events to the trace."""

    event: ResearchSessionEvent | EffectMeasured | PipelineChanged


Decision = ChangeConfig | Inject | Rollback | Reject | Record
Decisions = Iterable[Decision]
