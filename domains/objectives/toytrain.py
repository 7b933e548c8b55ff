"""Synthetic training loss (lr log-float, batch log-int, act choice): minimum 1.0.

The best learning rate grows with the batch size (square-root scaling from 3e-3 at batch 32),
so the two interact. Global minimum 1.0 at lr = 3e-3, batch = 32, act = "gelu".
The default (lr 0.01, batch 256, relu) scores about 1.24.
"""

import math

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 0.01},
    "batch": {"type": "int", "low": 8, "high": 512, "log": True, "default": 256},
    "act": {"type": "choice", "choices": ["relu", "gelu", "tanh"], "default": "relu"},
}
DIRECTION = "minimize"
OPTIMUM = 1.0

_ACT_PENALTY = {"relu": 0.05, "gelu": 0.0, "tanh": 0.2}


def objective(params: dict) -> float:
    batch = params["batch"]
    best_lr = 3e-3 * math.sqrt(batch / 32)
    lr_term = 0.5 * (math.log10(params["lr"]) - math.log10(best_lr)) ** 2
    batch_term = 0.02 * (math.log2(batch) - 5) ** 2
    return 1.0 + lr_term + batch_term + _ACT_PENALTY[params["act"]]
