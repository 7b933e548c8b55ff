"""Rosenbrock (4-D) on [-2, 2]^4: minimum 0 at (1, 1, 1, 1), in a narrow curved valley.

The default (-1.2, 1, -1.2, 1), the classic hard start repeated, scores 532.4.
"""

SPACE = {
    "x1": {"type": "float", "low": -2.0, "high": 2.0, "default": -1.2},
    "x2": {"type": "float", "low": -2.0, "high": 2.0, "default": 1.0},
    "x3": {"type": "float", "low": -2.0, "high": 2.0, "default": -1.2},
    "x4": {"type": "float", "low": -2.0, "high": 2.0, "default": 1.0},
}
DIRECTION = "minimize"
OPTIMUM = 0.0


def objective(params: dict) -> float:
    x = [params[f"x{i}"] for i in range(1, 5)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))
