"""The offline scientist takes up a model of the objective first where the trace shows a space a model
can fit: the regression surrogate for numbers without noise or failure, the Parzen estimator where there
are choices or noise; it keeps its old agenda elsewhere (a failed trial on a numeric, noise-free space)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bilevel_evolve.engine.analysis.diagnosis import diagnose
from bilevel_evolve.engine.outer.research.candidates import ResearchInput
from bilevel_evolve.engine.outer.research.offline_scientist import (
    OfflineScientist,
    density_friendly,
    model_friendly,
)
from bilevel_evolve.engine.outer.research.ranking import rank
from bilevel_evolve.ground.records import SearchConfig, TrialRecord
from bilevel_evolve.ground.space import SearchSpace

NUMBERS = {f"x{i}": {"type": "float", "low": -5.0, "high": 5.0, "default": 0.0} for i in range(1, 6)}
WITH_CHOICE = NUMBERS | {"act": {"type": "choice", "choices": ["relu", "tanh"], "default": "relu"}}


@dataclass
class _Loop:
    """The part of a LoopView the offline scientist reads."""

    space: SearchSpace
    history: tuple[TrialRecord, ...]
    noise_floor: float = 0.0
    search_config: SearchConfig = field(default_factory=SearchConfig)


def _input(space_dict: dict, *, noise: float = 0.0, failed: bool = False) -> ResearchInput:
    space = SearchSpace.from_dict(space_dict)
    history = []
    for i in range(8):  # the offline prior's first session: the first three parameters walked down
        params = space.defaults() | ({f"x{1 + i % 3}": -0.5 * (1 + i // 3)} if i else {})
        status = "crashed" if failed and i == 4 else "ok"
        history.append(TrialRecord(iteration=i, params=params, status=status, value=None if status != "ok" else
                                   10.0 - i * (i % 2), accepted=i % 2 == 1 or i == 0,
                                   source="baseline" if i == 0 else "agent"))
    loop = _Loop(space, tuple(history), noise_floor=noise)
    return ResearchInput(diagnosis=diagnose(history, space, "minimize", 8), active=(), tried=frozenset(),
                         session_number=1, space_text="", history_text="", loop=loop)  # type: ignore[arg-type]


def _chosen(data: ResearchInput) -> str | None:
    chosen = rank(OfflineScientist().hypothesize(data), {}).chosen
    return chosen.recipe if chosen else None


def test_on_a_numeric_noise_free_space_the_first_session_writes_the_model() -> None:
    data = _input(NUMBERS)
    assert model_friendly(data)
    hypotheses = OfflineScientist().hypothesize(data)
    assert hypotheses[0].bottleneck == "no-model" and "numeric" in hypotheses[0].evidence
    assert _chosen(data) == "gp_sklearn"  # the obvious library first; its repair is the numpy surrogate


def test_a_choice_or_noise_makes_the_first_session_write_the_density_model() -> None:
    few_values = NUMBERS | {"depth": {"type": "int", "low": 1, "high": 4, "default": 2}}
    for data in (_input(WITH_CHOICE), _input(NUMBERS, noise=0.5), _input(few_values)):
        assert not model_friendly(data) and density_friendly(data)
        hypotheses = OfflineScientist().hypothesize(data)
        assert hypotheses[0].bottleneck == "no-model" and "density model" in hypotheses[0].evidence
        assert _chosen(data) == "parzen"


def test_a_frozen_choice_counts_as_absent() -> None:
    data = _input(WITH_CHOICE)
    data.loop.search_config = SearchConfig(frozen=("act",))  # type: ignore[union-attr]
    assert model_friendly(data) and not density_friendly(data)


def test_once_a_model_was_tried_the_first_session_rule_does_not_write_another() -> None:
    data = replace(_input(WITH_CHOICE), tried=frozenset({"surrogate"}))
    assert all(h.bottleneck != "no-model" for h in OfflineScientist().hypothesize(data))


def test_a_failure_on_a_numeric_noise_free_space_keeps_the_old_agenda() -> None:
    data = _input(NUMBERS, failed=True)
    assert not model_friendly(data) and not density_friendly(data)
    assert all(h.bottleneck != "no-model" for h in OfflineScientist().hypothesize(data))
    assert _chosen(data) not in ("gp_sklearn", "surrogate", "parzen")


def test_without_the_loop_to_read_nothing_is_assumed() -> None:
    data = _input(NUMBERS)
    bare = ResearchInput(diagnosis=data.diagnosis, active=(), tried=frozenset(), session_number=1, space_text="",
                         history_text="")
    assert not model_friendly(bare) and not density_friendly(bare)
