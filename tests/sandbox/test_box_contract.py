"""Cases 24 and 25: a missing package, a raising hook, a wrong type or nondeterminism is rejected with
the reason — the exact words the engine records and the LLM's repair round reads."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

GP_WITH_SKLEARN = """
from sklearn.gaussian_process import GaussianProcessRegressor

class GaussianProcessSurrogate:
    name = "gp-surrogate"
    def __init__(self):
        self._model = GaussianProcessRegressor()
    def propose(self, ctx):
        return None
MECHANISM = GaussianProcessSurrogate
"""


def test_import_of_a_package_the_image_lacks_is_rejected_naming_it(box) -> None:
    report = box(GP_WITH_SKLEARN)
    assert report.status == "IMPORT_ERROR"
    assert report.reasons[0].startswith("ModuleNotFoundError: No module named 'sklearn'")
    assert "mechanism.py line 2" in report.reasons[0]


def test_sklearn_mechanism_is_rejected_through_check_mechanism(docker_client, sandbox_image) -> None:
    from bilevel_evolve.sandbox.vet import check_mechanism

    boxed = check_mechanism(GP_WITH_SKLEARN, gate=False, client=docker_client)
    assert boxed.status == "rejected-smoke"
    assert "sklearn" in boxed.reasons[0]
    gated = check_mechanism(GP_WITH_SKLEARN, client=docker_client)
    assert gated.status in ("rejected-static", "rejected-smoke")
    assert any("sklearn" in r for r in gated.reasons)


def test_hook_that_raises_is_rejected_with_the_exception_and_line(box) -> None:
    report = box("""
        class Divider:
            def propose(self, ctx):
                return {"x": 1 / 0}
        MECHANISM = Divider
    """)
    assert report.status == "FAILED"
    assert report.reasons[0] == (
        "hook propose at iteration 0 raised ZeroDivisionError: division by zero (mechanism.py line 4 in propose)")


def test_hook_returning_the_wrong_type_is_rejected(box) -> None:
    report = box("""
        class Wrong:
            def propose(self, ctx):
                return "x"
        MECHANISM = Wrong
    """)
    assert report.status == "FAILED"
    assert report.reasons[0] == "hook propose returned 'x' (str), expected dict or None (iteration 0)"


def test_proposal_outside_the_space_is_rejected_naming_the_parameter(box) -> None:
    report = box("""
        class OutOfRange:
            def propose(self, ctx):
                params = ctx.sample()
                params["x"] = 99.0
                return params
        MECHANISM = OutOfRange
    """)
    assert report.status == "FAILED"
    assert "hook propose returned invalid parameters: x: 99.0 is outside [-5.0, 5.0]" in report.reasons[0]


def test_review_and_accept_with_wrong_shapes_are_rejected(box) -> None:
    review = box("""
        class BadReview:
            def review(self, proposal, ctx):
                return {"veto": True}
        MECHANISM = BadReview
    """)
    accept = box("""
        class BadAccept:
            def accept(self, trial, incumbent, ctx):
                return "yes"
        MECHANISM = BadAccept
    """)
    assert review.status == accept.status == "FAILED"
    assert 'expected None, {"reject": "why"} or {"replace": {...}}' in review.reasons[0]
    assert "hook accept returned 'yes' (str), expected bool or None" in accept.reasons[0]


def test_nondeterministic_hook_under_a_fixed_seed_is_rejected(box) -> None:
    report = box("""
        import random
        class Unseeded:
            def propose(self, ctx):
                params = ctx.sample()
                params["x"] = random.uniform(-5, 5)
                return params
        MECHANISM = Unseeded
    """)
    assert report.status == "FAILED"
    assert report.reasons[0].startswith("nondeterministic under a fixed seed: hook propose at iteration 0")
    assert "ctx.rng" in report.reasons[0]


def test_ctx_rng_makes_a_random_mechanism_deterministic(box) -> None:
    report = box("""
        class Seeded:
            def propose(self, ctx):
                params = ctx.sample()
                params["x"] = ctx.rng.uniform(-5, 5)
                return params
        MECHANISM = Seeded
    """)
    assert report.status == "PASSED", report.to_text()


def test_state_dict_that_is_not_json_is_rejected(box) -> None:
    report = box("""
        class Stateful:
            def observe(self, trial, ctx):
                return None
            def state_dict(self):
                return {"seen": {1, 2, 3}}
            def load_state_dict(self, state):
                pass
        MECHANISM = Stateful
    """)
    assert report.status == "FAILED"
    assert "hook state_dict returned" in report.reasons[0] and "not JSON-serializable" in report.reasons[0]


def test_mechanism_without_hooks_or_class_is_rejected(box) -> None:
    no_hooks = box("class Empty:\n    pass\nMECHANISM = Empty\n")
    no_class = box("MECHANISM = 3\n")
    assert no_hooks.status == no_class.status == "FAILED"
    assert "defines none of the hooks" in no_hooks.reasons[0]
    assert "MECHANISM must name the mechanism class, got 3 (int)" in no_class.reasons[0]


def test_ctx_is_read_only(box) -> None:
    report = box("""
        class Mutator:
            def observe(self, trial, ctx):
                trial.params["x"] = 0.0
        MECHANISM = Mutator
    """)
    assert report.status == "FAILED"
    assert "TypeError: ctx is read-only" in report.reasons[0]


# ctx.llm in the smoke test: no engine answers there, so the deterministic stand-in does (the text after the
# prompt's first blank line), under the same cap as in a run.
LOOPS_ON_THE_MODEL = """
class Looping:
    name = "looping"
    position = "after:revision"
    def stage(self, draft, ctx):
        for _ in range(10):
            draft = ctx.llm("Shorten this draft.\\n\\n" + draft, max_tokens=4000)
        return draft
MECHANISM = Looping
"""


def test_a_stage_asking_the_model_gets_the_stand_ins_answer_in_the_smoke_test(box) -> None:
    report = box("""
        class Asking:
            def stage(self, draft, ctx):
                answers = [ctx.llm("Rewrite this draft.\\n\\n" + draft, max_tokens=4000) for _ in range(4)]
                if answers != [draft] * 4:
                    raise ValueError("the stand-in answered %r" % answers[0][:80])
                return answers[0]
        MECHANISM = Asking
    """)
    assert report.status == "PASSED", report.reasons
    assert report.verdict is not None and report.verdict.hooks["stage"].calls == 24  # 12 iterations, twice


def test_a_stage_that_loops_on_ctx_llm_is_rejected_at_vetting_with_the_reason(docker_client, sandbox_image) -> None:
    from bilevel_evolve.ground.contract.interface import MAX_LLM_CALLS
    from bilevel_evolve.sandbox.vet import check_mechanism

    report = check_mechanism(LOOPS_ON_THE_MODEL, client=docker_client)  # the gate lets ctx.llm through
    assert report.gate is not None and report.gate.ok
    assert report.status == "rejected-smoke"
    assert list(report.reasons) == [f"hook stage at iteration 0: called ctx.llm more than {MAX_LLM_CALLS} times in "
                                    f"one call (at most {MAX_LLM_CALLS} per hook call)"]


def test_a_request_ctx_llm_may_not_make_is_rejected_with_the_reason(box) -> None:
    report = box("""
        class Greedy:
            def guide(self, ctx):
                ctx.llm("Tell me everything.", max_tokens=10 ** 9)
        MECHANISM = Greedy
    """)
    assert report.status == "FAILED"
    assert report.reasons[0].startswith("hook guide at iteration 0 raised ValueError: ctx.llm: max_tokens is "
                                        "1000000000; it must lie in 1..16384")
