"""Evolution, not one-shot writing (no sandbox needed): what the archive's memory holds, how a session
plans its candidate from it, the offline scientist's children (gate-passing, parents recorded), the
bandit that replaces the critique once there is evidence, and the need trigger."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bilevel_evolve.engine.analysis.diagnosis import diagnose
from bilevel_evolve.engine.outer.research.candidates import Hypothesis, ResearchInput
from bilevel_evolve.engine.outer.research.evolution import FRESH, SessionPlan, plan_session
from bilevel_evolve.engine.outer.research.memory import ArchivedMechanism, ArchiveMemory
from bilevel_evolve.engine.outer.research.need import Need, gap, opening_need, session_need
from bilevel_evolve.engine.outer.research.offline_scientist import OfflineScientist
from bilevel_evolve.engine.outer.research.ranking import rank
from bilevel_evolve.engine.outer.research.recipes import get_recipe, recipe_source
from bilevel_evolve.engine.outer.research.source_operators import combine, mutate_constants
from bilevel_evolve.engine.outer.view import MechanismView
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import TrialRecord
from bilevel_evolve.ground.space import SearchSpace
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.effects import Scope, scope_of
from bilevel_evolve.mechanism_archive.models import EffectEstimate
from bilevel_evolve.sandbox.gate import check_source

SPACE = {"x1": {"type": "float", "low": -5.0, "high": 10.0, "default": 0.0},
         "x2": {"type": "float", "low": 0.0, "high": 15.0, "default": 0.0}}
SCOPE = scope_of("function:branin", SPACE)
GATE = {"ok": True, "hooks": []}


def _recipe_text(name: str) -> str:
    return recipe_source(get_recipe(name)).decode()


def _archived(archive: Archive, name: str, scores: list[float], *, source: str | None = None,
              session: dict | None = None, parents: tuple[str, ...] = (), scope: Scope = SCOPE) -> str:
    text = source or _recipe_text(name)
    gate = {**GATE, "hooks": list(check_source(text).hooks)}
    mid = archive.add(MechanismSource.from_text(text), name=name, class_name="C", origin="offline-recipe",
                      parents=parents, run_id="past", session=session or {"recipe": name}, gate_report=gate,
                      status="accepted").id
    for i, score in enumerate(scores):
        archive.record_effect(mid, run_id=f"past-{scope.start}-{i}", effect={"verdict": "improved", "score": score,
                                                                            "scope": scope.to_json()})
    return mid


def _parent(name: str, *, runs: int = 3, mean: float = 0.3, proven: bool = False, hooks: tuple[str, ...] = ()
            ) -> ArchivedMechanism:
    low, high = (0.1, 0.5) if proven else (-0.1, 0.7)
    estimate = EffectEstimate(mechanism_id=f"{name}-id", domain=SCOPE.domain, space_signature=SCOPE.signature,
                              space_shape=SCOPE.shape, runs=runs, mean=mean, low=low, high=high)
    return ArchivedMechanism(id=f"{name}-id", name=name, family=name, generation=0, estimate=estimate,
                             similar_space=False, hooks=hooks or get_recipe(name).hooks, hook_stats={},
                             source=_recipe_text(name))


def _hypothesis(recipe: str | None, score: float = 0.5) -> Hypothesis:
    return Hypothesis("stagnation", f"{recipe}: idea", "evidence", score, 1.0, 1.0, recipe=recipe)


# ---- the memory ------------------------------------------------------------------------------------
def test_the_memory_holds_what_earlier_runs_proved_up_to_the_horizon(archive: Archive) -> None:
    proven = _archived(archive, "tabu", [0.30, 0.31, 0.32])
    hinted = _archived(archive, "restart", [0.2, 0.4, -0.1])
    horizon = archive.last_event()
    later = _archived(archive, "annealing", [0.5, 0.5, 0.5])  # after the horizon: a later run's
    memory = ArchiveMemory.load(archive, SCOPE, horizon)
    assert [m.id for m in memory.proven] == [proven]
    assert memory.proven[0].estimate.runs == 3 and memory.proven[0].hooks
    assert [m.id for m in memory.parents] == [proven, hinted]  # positive means over 3+ runs, best first
    assert set(memory.family_scores) == {"tabu", "restart"} and later not in {m.id for m in memory.parents}
    assert ArchiveMemory.load(archive, SCOPE, None).empty  # no horizon: a run from before horizons
    assert ArchiveMemory.load(archive, SCOPE, 0).empty  # a fresh archive


def test_a_mechanism_proven_on_a_similar_space_is_remembered_as_such(archive: Archive) -> None:
    mid = _archived(archive, "tabu", [0.30, 0.31, 0.32])
    wider = scope_of("function:other", {**SPACE, "x2": {**SPACE["x2"], "high": 30.0}})
    memory = ArchiveMemory.load(archive, wider, archive.last_event())
    assert [(m.id, m.similar_space) for m in memory.proven] == [(mid, True)]
    elsewhere = scope_of("function:other", {"y": SPACE["x1"]})
    assert ArchiveMemory.load(archive, elsewhere, archive.last_event()).empty


def test_a_run_that_recalled_points_reads_the_effects_of_runs_that_began_so_once_there_are_some(
        archive: Archive) -> None:
    recalled = replace(SCOPE, start="recalled")
    surrogate = _archived(archive, "surrogate", [0.30, 0.31, 0.32])  # proven in runs that began fresh
    memory = ArchiveMemory.load(archive, recalled, archive.last_event())
    assert [m.id for m in memory.proven] == [surrogate] and memory.scope == SCOPE  # nothing else to go on
    _archived(archive, "surrogate", [-0.3, -0.25, -0.2], scope=recalled)  # it does worse after a recall
    restart = _archived(archive, "restart", [0.2, 0.25, 0.22], scope=recalled)
    memory = ArchiveMemory.load(archive, recalled, archive.last_event())
    assert [m.id for m in memory.proven] == [restart] and memory.scope == recalled
    assert [m.id for m in ArchiveMemory.load(archive, SCOPE, archive.last_event()).proven] == [surrogate]
    estimates = {(e.start, e.mechanism_id): e for e in archive.get(surrogate).summary.estimates}
    assert estimates[("fresh", surrogate)].sign == "positive" and estimates[("recalled", surrogate)].sign == "negative"
    assert estimates[("recalled", surrogate)].space_label.endswith("(recalled start)")


# ---- plans -----------------------------------------------------------------------------------------
def test_a_session_improves_the_chosen_familys_best_parent() -> None:
    plan = plan_session(_hypothesis("tabu"), [_parent("orthogonal"), _parent("tabu")], active=[],
                        measured={"tabu", "orthogonal"}, seed="h")
    assert plan.mode == "improve" and [p.name for p in plan.parents] == ["tabu"] and plan.parent_ids == ("tabu-id",)


def test_an_unmeasured_family_is_written_fresh_and_a_measured_one_without_parent_is_combined() -> None:
    parents = [_parent("orthogonal")]
    assert plan_session(_hypothesis("annealing"), parents, active=[], measured={"orthogonal"}, seed="h") == FRESH
    plan = plan_session(_hypothesis("annealing"), parents, active=[], measured={"orthogonal", "annealing"},
                        seed="h", recipe_id="annealing-id")
    assert plan.mode == "combine" and plan.recipe == "annealing"
    assert plan.parent_ids == ("orthogonal-id", "annealing-id")
    # both propose: the second would never be heard, so nothing to combine with
    assert plan_session(_hypothesis("restart"), parents, active=[], measured={"restart"}, seed="h") == FRESH


def test_no_parent_an_active_parent_or_no_family_left_means_fresh_for_the_offline_scientist() -> None:
    assert plan_session(_hypothesis("tabu"), [], active=[], measured=set(), seed="h") == FRESH
    assert plan_session(_hypothesis("tabu"), [_parent("tabu")], active=["tabu-id"], measured={"tabu"},
                        seed="h") == FRESH


def test_an_llm_session_improves_a_proven_parent_or_combines_the_two_best() -> None:
    proven = plan_session(_hypothesis(None), [_parent("tabu", proven=True), _parent("orthogonal")], active=[],
                          measured=set(), seed="h")
    assert proven.mode == "improve" and proven.parent_ids == ("tabu-id",)
    two = plan_session(_hypothesis(None), [_parent("tabu"), _parent("orthogonal")], active=[], measured=set(),
                       seed="h")
    assert two.mode == "combine" and two.parent_ids == ("tabu-id", "orthogonal-id")


# ---- the offline scientist's children ------------------------------------------------------------
def _input(plan: SessionPlan | None = None) -> ResearchInput:
    space = SearchSpace.from_dict(SPACE)
    history = [TrialRecord(iteration=0, params={"x1": 0.0, "x2": 0.0}, value=50.0, status="ok",
                           source="baseline", accepted=True)]
    return ResearchInput(diagnosis=diagnose(history, space, "minimize", 8), active=(), tried=frozenset(),
                         session_number=1, space_text="", history_text="", plan=plan)


def test_an_improved_child_changes_tunable_constants_passes_the_gate_and_records_its_parent() -> None:
    parent = _parent("tabu")
    plan = plan_session(_hypothesis("tabu"), [parent], active=[], measured={"tabu"}, seed="horizon 7")
    child = OfflineScientist().write(_hypothesis("tabu"), _input(plan))
    assert child is not None and child.parents == (parent.id,) and child.name == "tabu-g1"
    assert child.session["mode"] == "improve" and child.session["family"] == "tabu"
    bounds = get_recipe("tabu").tunable
    for name, (before, after) in child.session["changes"].items():
        low, high = bounds[name]
        assert before != after and low <= after <= high and f"{name} = {after}" in child.source.text()
    assert check_source(child.source).ok
    again = OfflineScientist().write(_hypothesis("tabu"), _input(plan))
    assert again is not None and again.source == child.source  # one horizon, one parent: the same child


def test_a_combined_child_joins_parent_and_recipe_passes_the_gate_and_records_both_parents() -> None:
    plan = plan_session(_hypothesis("annealing"), [_parent("orthogonal")], active=[],
                        measured={"orthogonal", "annealing"}, seed="h", recipe_id="annealing-id")
    child = OfflineScientist().write(_hypothesis("annealing"), _input(plan))
    assert child is not None and child.name == "orthogonal+annealing"
    assert child.parents == ("orthogonal-id", "annealing-id") and child.session["mode"] == "combine"
    report = check_source(child.source)
    assert report.ok, report.to_text()
    assert set(report.hooks) == {"guide", "propose", "accept", "state_dict", "load_state_dict"}


def test_combining_renames_what_the_parts_share_and_every_pair_of_recipes_passes_the_gate() -> None:
    names = ["tabu", "bandit", "orthogonal", "annealing", "restart", "surrogate", "noise_guard"]
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            text = combine([_recipe_text(first), _recipe_text(second)], name=f"{first}+{second}")
            assert text is not None and check_source(text).ok, (first, second)
    joined = combine([_recipe_text("tabu"), _recipe_text("orthogonal")], name="t+o")
    assert joined is not None and "RADIUS = 0.03" in joined and "RADIUS2 = 0.25" in joined
    assert combine(["MECHANISM = Missing\n", _recipe_text("tabu")], name="x") is None
    nested = combine([joined, _recipe_text("restart")], name="t+o+r")  # a child of a combination
    assert nested is not None and check_source(nested).ok and nested.rstrip().endswith("MECHANISM = Combined2")


def test_mutating_keeps_integers_integers_and_stays_within_bounds() -> None:
    source = "A = 10\nB = 0.5  # a comment stays\nC = -2.0\nMECHANISM = X\n"
    for seed in range(20):
        mutation = mutate_constants(source, {"A": (1, 12), "B": (0.1, 0.6), "C": (-3.0, -1.0)},
                                    random.Random(seed), changes=3)
        assert mutation is not None
        assert "# a comment stays" in mutation.source
        for before, after in mutation.changes.values():
            assert isinstance(after, type(before)) and after != before
        if "A" in mutation.changes:
            assert 1 <= mutation.changes["A"][1] <= 12
    assert mutate_constants("A = 'text'\n", {"A": (0, 1)}, random.Random(0)) is None
    assert mutate_constants("def broken(:\n", {"A": (0, 1)}, random.Random(0)) is None


# ---- the bandit --------------------------------------------------------------------------------------
def test_without_evidence_the_critique_decides_as_before() -> None:
    hypotheses = [_hypothesis("tabu", 0.4), _hypothesis("restart", 0.9)]
    ranking = rank(hypotheses, {})
    assert ranking.chosen is hypotheses[1] and ranking.bandit == {}
    assert rank(hypotheses, {"surrogate": (0.3,)}).chosen is hypotheses[1]  # evidence of no family at hand


def test_with_evidence_an_unmeasured_family_comes_first_then_the_highest_upper_bound() -> None:
    tabu, restart, annealing = _hypothesis("tabu", 0.9), _hypothesis("restart", 0.1), _hypothesis("annealing", 0.2)
    first = rank([tabu, restart, annealing], {"tabu": (0.5, 0.6)})
    assert first.chosen is annealing  # never measured here; the critique orders the unmeasured ones
    assert first.recorded(tabu)["bandit"]["runs"] == 2 and first.recorded(annealing) == {}
    ranked = rank([tabu, restart], {"tabu": (0.5, 0.6, 0.55), "restart": (-0.2, -0.1, -0.3)})
    assert ranked.chosen is tabu


# ---- the need trigger --------------------------------------------------------------------------------
def _trials(values: list[float], kept: list[bool]) -> list[TrialRecord]:
    out = [TrialRecord(iteration=0, params={"x1": 0.0, "x2": 0.0}, value=values[0], status="ok",
                       source="baseline", accepted=True)]
    for i, (value, accepted) in enumerate(zip(values[1:], kept, strict=True), start=1):
        out.append(TrialRecord(iteration=i, params={"x1": float(i) / 10, "x2": float(i) / 10}, value=value,
                               status="ok", source="agent", accepted=accepted))
    return out


@pytest.mark.parametrize("every", [4, 8])
def test_the_need_trigger_fires_on_stagnation_and_not_before_its_gap(every: int) -> None:
    space = SearchSpace.from_dict(SPACE)
    wait = gap(every)
    stuck = _trials([10.0] + [11.0] * wait, [False] * wait)
    need = session_need(stuck, space, "minimize", iteration=wait, every=every, last_session=0, mechanisms=(),
                        injected_at={}, verdicts={}, answered=())
    assert need is not None and need.reason.startswith("stagnation") and need.mechanism is None
    assert session_need(stuck, space, "minimize", iteration=wait, every=every, last_session=1, mechanisms=(),
                        injected_at={}, verdicts={}, answered=()) is None  # too soon after the last session
    moving = _trials([10.0 - i for i in range(wait + 1)], [True] * wait)
    assert session_need(moving, space, "minimize", iteration=wait, every=every, last_session=0, mechanisms=(),
                        injected_at={}, verdicts={}, answered=()) is None


def test_only_a_free_choice_or_an_int_of_few_values_calls_the_first_session_at_once() -> None:
    numbers = SearchSpace.from_dict({**SPACE, "n": {"type": "int", "low": 1, "high": 10, "default": 2}})
    assert opening_need(numbers, ()) is None  # ten values: a number
    mixed = SearchSpace.from_dict({**SPACE, "n": {"type": "int", "low": 1, "high": 9, "default": 2},
                                   "act": {"type": "choice", "choices": ["a", "b"], "default": "a"}})
    need = opening_need(mixed, ())
    assert need is not None and "(n, act)" in need.reason and need.mechanism is None
    assert opening_need(mixed, ("n", "act")) is None  # frozen: nothing to search there


def test_the_need_trigger_fires_once_for_a_mechanism_that_stopped_paying() -> None:
    space = SearchSpace.from_dict(SPACE)
    moving = _trials([10.0 - i for i in range(9)], [True] * 8)

    def need_with(mech: MechanismView, verdicts: dict[str, str], answered: tuple[str, ...]) -> Need | None:
        return session_need(moving, space, "minimize", iteration=8, every=8, last_session=0, mechanisms=(mech,),
                            injected_at={mech.id: 2}, verdicts=verdicts, answered=answered)

    idle = MechanismView("m1", "idle", {"propose": {"calls": 5, "changed": 0}})
    need = need_with(idle, {}, ())
    assert need is not None and need.mechanism == "m1" and "stopped paying" in need.reason
    assert need_with(idle, {}, ("m1",)) is None  # its session was called already
    flat = MechanismView("m2", "flat", {"propose": {"calls": 5, "changed": 3}})
    need = need_with(flat, {"m2": "neutral"}, ())
    assert need is not None and "neutral" in need.reason
    assert need_with(flat, {"m2": "improved"}, ()) is None


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive.open(tmp_path / "archive", create=True) as opened:
        yield opened
