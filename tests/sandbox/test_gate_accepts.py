"""SANDBOX_TESTS case 1: ordinary mechanism code passes the gate (no false positives)."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from bilevel_evolve.sandbox.gate import check_source

MECHANISMS = Path(__file__).parent / "mechanisms"
FIXTURES = sorted(MECHANISMS.glob("*.py"))

EXPECTED = {
    "tabu_search.py": ("TabuSearch", ("guide", "propose", "review", "observe", "state_dict", "load_state_dict")),
    "ucb_bandit.py": ("StepSizeBandit", ("guide", "propose", "observe", "state_dict", "load_state_dict")),
    "latin_hypercube.py": ("LatinHypercubeWarmup", ("propose", "state_dict", "load_state_dict")),
    "diagonal_es.py": ("DiagonalES", ("guide", "propose", "review", "observe", "state_dict", "load_state_dict")),
    "annealing_acceptance.py": ("AnnealingAcceptance", ("observe", "accept", "state_dict", "load_state_dict")),
}


def test_every_fixture_mechanism_has_an_expectation() -> None:
    assert sorted(p.name for p in FIXTURES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_realistic_mechanism_passes_with_its_class_and_hooks(path: Path) -> None:
    data = path.read_bytes()
    report = check_source(data, filename=path.name)
    assert report.ok, report.to_text()
    assert report.violations == ()
    assert (report.mechanism_class, report.hooks) == EXPECTED[path.name]
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert "passed the static gate" in report.to_text()


def probe(body: str, header: str = "", members: str = "") -> str:
    return (
        f"{textwrap.dedent(header).strip()}\n\n\n"
        "class Probe:\n"
        '    name = "probe"\n'
        f"{textwrap.indent(textwrap.dedent(members).strip(), '    ')}\n\n"
        "    def propose(self, ctx):\n"
        f"{textwrap.indent(textwrap.dedent(body).strip(), ' ' * 8)}\n"
        "        return None\n\n\n"
        "MECHANISM = Probe\n"
    )


ORDINARY = {
    "private-state-on-self": probe("self._state = {'n': 0}\nx = self._state['n']"),
    "private-state-on-cls": probe("x = self._limit", members="_limit = 3"),
    "super-init": probe("x = 1", members="def __init__(self):\n    super().__init__()\n    self._n = 0"),
    "augmented-name": probe("x = 0\nx += 1\nx *= 2"),
    "augmented-private-attribute": probe("self._n = 0\nself._n += 1"),
    "augmented-item": probe("counts = {'a': 0}\ncounts['a'] += 1"),
    "augmented-attribute-of-local": probe("box = ctx.config\nself.total = 0\nself.total += box.step_scale"),
    "private-module-level-names": probe(
        "x = _helper(2) + _LIMIT", header="_LIMIT = 3\n\ndef _helper(v):\n    return v * 2"
    ),
    "private-method": probe("x = self._score(1)", members="def _score(self, v):\n    return -v"),
    "name-mangled-private": probe("self.__secret = 1\nx = self.__secret"),
    "numpy-use": probe(
        "a = np.asarray([1.0, 2.0])\nx = float(np.linalg.norm(a) + np.random.default_rng(0).random())",
        header="import numpy as np",
    ),
    "torch-use": probe(
        "t = torch.tensor([1.0, 2.0])\nnet = nn.Linear(2, 1)\nnet.eval()\nx = float(net(t).sum().item())",
        header="import torch\nfrom torch import nn",
    ),
    "dict-and-list-comprehensions": probe(
        "d = {k: v for k, v in ctx.space.items() if v}\nxs = [t.value for t in ctx.history if t.value]\n"
        "s = {n for n in d}\ng = sum(x for x in xs)"
    ),
    "f-strings": probe("x = f'{ctx.iteration:04d} {ctx.direction!r} {len(ctx.history)}'"),
    "literal-format-call": probe("x = '{:.3f} {0} {name}'.format(1.0, name='a') if False else '{:.2f}'.format(2.0)"),
    "percent-format": probe("x = '%s=%.3f' % ('a', 1.0)"),
    "lambda-and-sorted": probe("best = sorted(ctx.history, key=lambda t: t.value or 0.0)"),
    "try-except-finally": probe(
        "try:\n    x = 1 / 0\nexcept ZeroDivisionError as err:\n    x = str(err)\nelse:\n    x = 0\nfinally:\n    y = 1"
    ),
    "with-statement": probe("import torch\nwith torch.no_grad():\n    x = torch.zeros(2)"),
    "type-hints": probe(
        "values: list[float] = []\nbest: float | None = None",
        header="from typing import Any",
        members="limit: int = 3\nnotes: dict[str, Any] = {}",
    ),
    "future-annotations": probe("x: dict = {}", header="from __future__ import annotations"),
    "dataclass-helper": probe(
        "s = Stats(3)\ns.n += 1",
        header="from dataclasses import dataclass, field\n\n\n@dataclass\nclass Stats:\n    n: int = 0\n"
        "    seen: list = field(default_factory=list)",
    ),
    "dataclass-frozen": probe(
        "s = Point(1.0, 2.0)",
        header="import dataclasses\n\n\n@dataclasses.dataclass(frozen=True)\nclass Point:\n    x: float\n    y: float",
    ),
    "collections-and-heapq": probe(
        "q = deque(maxlen=3)\nc = Counter('abc')\nheap = []\nheapq.heappush(heap, 1)\nd = defaultdict(list)",
        header="import heapq\nfrom collections import Counter, defaultdict, deque",
    ),
    "itertools-functools-statistics-bisect": probe(
        "p = list(itertools.product([1, 2], [3]))\nm = statistics.mean([1, 2])\ni = bisect.bisect([1, 2], 1)\n"
        "r = functools.reduce(lambda a, b: a + b, [1, 2])",
        header="import bisect\nimport functools\nimport itertools\nimport statistics",
    ),
    "rng-from-ctx": probe("x = ctx.rng.random() + ctx.rng.gauss(0, 1)\ny = ctx.rng.choice([1, 2])"),
    "module-constants": probe(
        "x = TAU + len(SCALES)", header="import math\n\nTAU = 2 * math.pi\nSCALES = (0.1, 0.2)\nLOG2 = math.log(2)"
    ),
    "while-break-continue": probe("i = 0\nwhile i < 3:\n    i += 1\n    if i == 2:\n        continue\n    break"),
    "generator-method": probe("x = list(self._gen())", members="def _gen(self):\n    yield 1\n    yield from [2, 3]"),
    "staticmethod-and-property": probe(
        "x = self.scale + Probe.clip(2)",
        members="@staticmethod\ndef clip(v):\n    return min(v, 1)\n\n@property\ndef scale(self):\n    return 2",
    ),
    "lru-cache-helper": probe(
        "x = fib(10)",
        header="import functools\n\n\n@functools.lru_cache(maxsize=64)\ndef fib(n):\n"
        "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    ),
    "print-inside-a-hook": probe("print('iteration', ctx.iteration)"),
    "isinstance-and-type": probe("x = isinstance(ctx, dict) or type(ctx) is dict"),
    "assert-and-raise": probe("assert ctx is not None\nif ctx is None:\n    raise ValueError('no ctx')"),
    "unpacking": probe("a, (b, c) = 1, (2, 3)\nfirst, *rest = [1, 2, 3]\nd = {**{'a': 1}}"),
    "module-docstring-and-all": probe("x = 1", header='"""A probe."""\n\n__all__ = ["Probe"]'),
    "builtins-sum-min-max": probe("x = sum([1, 2]) + min(1, 2) + max([3])"),
    "nested-helper-function": probe("def step(v, k=2):\n    return v * k\n\nx = step(3)"),
    "walrus": probe("if (n := len(ctx.history)) > 3:\n    x = n"),
}


@pytest.mark.parametrize("source", ORDINARY.values(), ids=ORDINARY.keys())
def test_ordinary_class_code_passes(source: str) -> None:
    report = check_source(source)
    assert report.ok, report.to_text()
    assert report.mechanism_class == "Probe"
