"""Branin-Hoo (2-D): minimum 0.397887, reached at three points.

The three global minima: (-pi, 12.275), (pi, 2.275) and (9.42478, 2.475).

The default (2.5, 7.5), the centre of the box, scores 24.13: far from every optimum.
"""

import math

SPACE = {
    "x1": {"type": "float", "low": -5.0, "high": 10.0, "default": 2.5},
    "x2": {"type": "float", "low": 0.0, "high": 15.0, "default": 7.5},
}
DIRECTION = "minimize"
OPTIMUM = 0.397887


def objective(params: dict) -> float:
    x1, x2 = params["x1"], params["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10
