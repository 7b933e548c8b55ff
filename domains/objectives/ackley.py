"""Ackley (5-D) on [-5, 5]^5: minimum 0 at the origin, many regular local minima.

The global minimum lies inside a field of regularly spaced local minima.

The default (3, -2, 1.5, -3.5, 2) scores 9.39.
"""

import math

_START = (3.0, -2.0, 1.5, -3.5, 2.0)
SPACE = {
    f"x{i}": {"type": "float", "low": -5.0, "high": 5.0, "default": start}
    for i, start in enumerate(_START, start=1)
}
DIRECTION = "minimize"
OPTIMUM = 0.0


def objective(params: dict) -> float:
    x = [params[f"x{i}"] for i in range(1, 6)]
    n = len(x)
    square = math.sqrt(sum(v * v for v in x) / n)
    cosine = sum(math.cos(2 * math.pi * v) for v in x) / n
    return -20 * math.exp(-0.2 * square) - math.exp(cosine) + 20 + math.e
