"""The offline scientist's catalog of mechanism recipes.

Each recipe is a plain mechanism source file beside this module. The files are *data*: the engine
reads their bytes with `recipe_source` and sends them through the static gate and the smoke-test
box like any mechanism an LLM wrote. Nothing on the host imports them.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.ground.contract.interface import HookName
from bilevel_evolve.ground.errors import EvolveError

Bottleneck = Literal["repetition", "stagnation", "unexplored", "plateau", "noise", "no-model"]
ExpectedStatus = Literal["accepted", "rejected-smoke"]

BOTTLENECKS: tuple[str, ...] = get_args(Bottleneck)


class Recipe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    file: str
    targets: tuple[Bottleneck, ...]
    hooks: tuple[HookName, ...]
    parents: tuple[str, ...] = ()
    # Modules beyond the gate's default allowlist that the recipe asks for (the gate policy is
    # extended with them for this recipe; the box still decides whether they exist).
    extra_imports: tuple[str, ...] = ()
    expected_status: ExpectedStatus = "accepted"
    description: str
    # Module constants the offline scientist may change when it improves an archived mechanism of this
    # family (engine/outer/research/source_operators.py), each within its (low, high).
    tunable: dict[str, tuple[float, float]] = {}


_STATE: tuple[HookName, ...] = ("state_dict", "load_state_dict")

CATALOG: tuple[Recipe, ...] = (
    Recipe(
        name="tabu", file="tabu.py", targets=("repetition", "stagnation"), hooks=("review", "observe", *_STATE),
        tunable={"TABU_SIZE": (4, 128), "RADIUS": (0.005, 0.2), "ATTEMPTS": (4, 96)},
        description="Tabu search: replaces a proposal that repeats (or nearly repeats) a recent point by a "
        "perturbed incumbent that moves the least-varied parameter out of the tabu region.",
    ),
    Recipe(
        name="bandit", file="bandit.py", targets=("unexplored", "stagnation", "repetition"),
        hooks=("propose", "observe", *_STATE), tunable={"EXPLORATION": (0.1, 4.0), "PRIOR_REWARD": (0.01, 1.0)},
        description="Multi-scale bandit: UCB1 over (parameter, small/medium/large step, direction) arms; "
        "proposes the incumbent moved by the chosen arm and credits the arm with the improvement.",
    ),
    Recipe(
        name="orthogonal", file="orthogonal.py", targets=("unexplored", "repetition"),
        hooks=("guide", "propose", *_STATE), tunable={"BINS": (2, 12), "FOCUS": (1, 8), "RADIUS": (0.05, 0.5)},
        description="Orthogonal exploration: focuses the proposer on the least covered parameters and, every "
        "other iteration, proposes the next point of a Latin-hypercube design around the incumbent.",
    ),
    Recipe(
        name="annealing", file="annealing.py", targets=("plateau", "stagnation"), hooks=("accept", *_STATE),
        tunable={"START_TEMPERATURE": (0.02, 1.0), "COOLING": (0.5, 0.99), "MAX_LOSS": (0.1, 4.0)},
        description="Annealing acceptance: the Metropolis rule keeps slightly worse trials with a probability "
        "that cools over the iterations, so the incumbent can walk off a plateau.",
    ),
    Recipe(
        name="restart", file="restart.py", targets=("stagnation", "plateau"), hooks=("propose", *_STATE),
        tunable={"STALL": (2, 20), "RADIUS": (0.05, 0.8), "GROWTH": (1.1, 3.0), "CHOICE_RESAMPLE": (0.05, 1.0)},
        description="Restart on stagnation: after 6 trials without a new best, proposes a random point around "
        "the best in every dimension; fruitless restarts widen the radius.",
    ),
    Recipe(
        name="surrogate", file="surrogate.py", targets=("no-model", "unexplored"), hooks=("propose", *_STATE),
        tunable={"MIN_TRIALS": (3, 24), "CANDIDATES": (64, 2048), "LOCAL_SIGMA": (0.02, 0.4), "RIDGE": (1e-4, 1.0),
                 "KAPPA": (0.1, 4.0), "GLOBAL_SHARE": (0.0, 0.6)},
        description="RBF kernel-ridge surrogate (numpy): fits the ranks of the history's values in unit space, "
        "length scale by leave-one-out, and proposes the best lower confidence bound of seeded random candidates, "
        "most of them in a trust region around the best that grows after successes and shrinks after failures.",
    ),
    Recipe(
        name="parzen", file="parzen.py", targets=("no-model", "noise"), hooks=("propose", *_STATE),
        tunable={"MIN_TRIALS": (3, 24), "SPREAD": (0, 12), "GAMMA": (0.1, 0.5), "CANDIDATES": (4, 256),
                 "PRIOR_WEIGHT": (0.1, 4.0), "MIN_BANDWIDTH": (0.005, 0.2)},
        description="Parzen estimator (TPE): per parameter, a density of the best quarter of the trials against "
        "one of the rest (choices by option counts, numbers by truncated Gaussians, each with a wide prior), and "
        "proposes, per parameter, the drawn value most likely good; ranks decide, so choices and noise fit. Until "
        "a few trials lie far from the first one, it proposes points anywhere (its random start).",
    ),
    Recipe(
        name="noise_guard", file="noise_guard.py", targets=("noise", "plateau"), hooks=("propose", "accept", *_STATE),
        tunable={"NOISE_MULT": (0.5, 6.0), "CONFIRM_SHARE": (0.01, 0.5)},
        description="Noise guard: re-measures incumbents won by a small margin, keeps the re-measurement, and "
        "vetoes improvements smaller than twice the pooled noise of repeated points.",
    ),
    Recipe(
        name="gp_sklearn", file="gp_sklearn.py", targets=("no-model", "noise"), hooks=("propose", *_STATE),
        parents=("surrogate",), extra_imports=("sklearn",), expected_status="rejected-smoke",
        description="Gaussian-process surrogate with expected improvement, built on scikit-learn. The sandbox "
        "image lacks scikit-learn, so the smoke test fails and the engine rolls it back (the paper's case).",
    ),

)

# Not a recipe any scientist chooses: the engine writes it, with a run's recalled points in it, when the
# archive holds earlier runs' results for the run's task (engine/outer/research/recall.py).
RECALL_RECIPE = Recipe(
    name="recall", file="recall.py", targets=(), hooks=("propose",),
    description="Recall: proposes, once each, the best points earlier runs on this same task found.",
)

# Which recipe the offline scientist tries first for each bottleneck (then the next untried one).
PRIORITY: dict[str, tuple[str, ...]] = {
    "repetition": ("tabu", "orthogonal", "bandit"),
    "stagnation": ("restart", "bandit", "tabu", "annealing"),
    "unexplored": ("orthogonal", "bandit", "surrogate"),
    "plateau": ("annealing", "restart", "noise_guard"),
    "noise": ("noise_guard", "parzen", "gp_sklearn"),
    "no-model": ("surrogate", "parzen", "gp_sklearn"),
}

# Stages of a text run's revision pipeline (hook `stage`): a catalog of their own, which only the text
# domain's offline scientist reads (engine/outer/research/stage_scientist.py), in this order.
STAGE_CATALOG: tuple[Recipe, ...] = (
    Recipe(
        name="stage_readability", file="stage_readability.py", targets=("plateau",), hooks=("stage",),
        extra_imports=("textstat",), expected_status="rejected-smoke",
        description="Readability stage built on textstat: after each revision, splits the longest sentence of "
        "the hardest paragraph. The sandbox image lacks textstat, so the smoke test fails and the engine rolls "
        "it back (the text run's reverted case).",
    ),
    Recipe(
        name="stage_plain", file="stage_plain.py", targets=("plateau",), hooks=("stage",),
        parents=("stage_readability",),
        description="Plain-words stage (standard library): after each revision, replaces every wordy phrase of "
        "a fixed table with its plain form and splits sentences over 30 words at a semicolon.",
    ),
    Recipe(
        name="stage_model", file="stage_model.py", targets=("plateau",), hooks=("stage",),
        description="Model-rewrite stage: after each revision, asks the run's model (one ctx.llm call) to "
        "rewrite the longest prose paragraph in plain words, and keeps the answer when it reads as a rewrite "
        "of that paragraph (offline, the engine's deterministic stand-in answers).",
    ),
)

_BY_NAME = {recipe.name: recipe for recipe in CATALOG}


def get_recipe(name: str) -> Recipe:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise EvolveError(f"no mechanism recipe named {name!r}", f"use one of: {', '.join(_BY_NAME)}") from None


def recipe_source(recipe: Recipe) -> bytes:
    """The recipe's exact source bytes, read as package data (the module is never imported)."""
    return resources.files(__name__).joinpath(recipe.file).read_bytes()


def find_recipe(name: str) -> Recipe | None:
    """The recipe of this name, or None (a family name that is not a catalog recipe)."""
    return _BY_NAME.get(name)


def pick_recipe(bottleneck: str, tried: set[str]) -> Recipe | None:
    """The first recipe for this bottleneck, in fixed priority order, whose name is not in `tried`."""
    if bottleneck not in PRIORITY:
        raise EvolveError(f"unknown bottleneck {bottleneck!r}", f"name one of: {', '.join(BOTTLENECKS)}")
    for name in PRIORITY[bottleneck]:
        if name not in tried:
            return _BY_NAME[name]
    return None
