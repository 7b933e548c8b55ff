"""Hartmann-6 on [0, 1]^6: minimum -3.32237, several local minima.

The global minimum: (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).

The default, 0.5 in every coordinate, scores -0.51; several local minima lie around it.
"""

import math

SPACE = {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5} for i in range(1, 7)}
DIRECTION = "minimize"
OPTIMUM = -3.32237

_ALPHA = (1.0, 1.2, 3.0, 3.2)
_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def objective(params: dict) -> float:
    x = [params[f"x{i}"] for i in range(1, 7)]
    total = 0.0
    for alpha, a_row, p_row in zip(_ALPHA, _A, _P, strict=True):
        inner = sum(a * (xj - p) ** 2 for a, xj, p in zip(a_row, x, p_row, strict=True))
        total += alpha * math.exp(-inner)
    return -total
