"""Default search spaces for train.py constants, restricted to the constants a file has.

Two tables: Karpathy's autoresearch names with ranges for his GPU model, and the shipped small
GPT's (same names where they apply, ranges for a 64-wide CPU model). Learning rates are
log-scaled. Karpathy's batch sizes are choices of powers of two, log-spaced, because his
train.py asserts that TOTAL_BATCH_SIZE is a multiple of DEVICE_BATCH_SIZE x sequence length;
the small GPT takes any token count, so its batch size is a log-scaled int.
Each default is the file's own current value (a range widens to hold it).
"""

from __future__ import annotations

from typing import Any

from bilevel_evolve.domains.train_opt.constants import Constant, current_value, is_number, resolve


def _lr(low: float, high: float, default: float) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": True, "default": default}


def _float(low: float, high: float, default: float) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "default": default}


def _choice(choices: list[Any], default: Any) -> dict[str, Any]:
    return {"type": "choice", "choices": choices, "default": default}


KARPATHY_SPACE: dict[str, dict[str, Any]] = {
    "MATRIX_LR": _lr(0.004, 0.4, 0.04),
    "EMBEDDING_LR": _lr(0.06, 3.0, 0.6),
    "UNEMBEDDING_LR": _lr(0.0004, 0.04, 0.004),
    "SCALAR_LR": _lr(0.05, 5.0, 0.5),
    "TOTAL_BATCH_SIZE": _choice([2**16, 2**17, 2**18, 2**19, 2**20], 2**19),
    "DEVICE_BATCH_SIZE": _choice([16, 32, 64, 128], 128),
    "WEIGHT_DECAY": _float(0.0, 0.5, 0.2),
    "ADAM_BETA1": _float(0.5, 0.95, 0.8),
    "ADAM_BETA2": _float(0.8, 0.999, 0.95),
    "WARMUP_RATIO": _float(0.0, 0.3, 0.0),
    "WARMDOWN_RATIO": _float(0.0, 0.9, 0.5),
    "FINAL_LR_FRAC": _float(0.0, 0.5, 0.0),
    "DEPTH": {"type": "int", "low": 2, "high": 16, "default": 8},
    "ASPECT_RATIO": _choice([32, 48, 64, 96, 128], 64),
    "HEAD_DIM": _choice([64, 128], 128),
    "WINDOW_PATTERN": _choice(["L", "SL", "SSL", "SSSL", "SSSSL"], "SSSL"),
}

SMALL_GPT_SPACE: dict[str, dict[str, Any]] = {
    "TOTAL_BATCH_SIZE": {"type": "int", "low": 512, "high": 32768, "log": True, "default": 8192},
    "MATRIX_LR": _lr(1e-4, 3e-2, 1e-3),
    "EMBEDDING_LR": _lr(1e-4, 3e-2, 1e-3),
    "UNEMBEDDING_LR": _lr(1e-4, 3e-2, 1e-3),
    "SCALAR_LR": _lr(1e-4, 3e-2, 1e-3),
    "WEIGHT_DECAY": _float(0.0, 0.3, 0.1),
    "ADAM_BETA1": _float(0.5, 0.95, 0.9),
    "ADAM_BETA2": _float(0.8, 0.999, 0.95),
    "WARMUP_RATIO": _float(0.0, 0.3, 0.0),
    "WARMDOWN_RATIO": _float(0.0, 0.9, 0.5),
    "FINAL_LR_FRAC": _float(0.0, 0.5, 0.0),
    "DEPTH": {"type": "int", "low": 1, "high": 4, "default": 2},
    "EMBED_DIM": _choice([32, 48, 64, 96, 128], 64),
    "HEAD_DIM": _choice([8, 16, 32], 16),
    "SEQ_LEN": _choice([32, 64, 128, 256], 128),
    "WINDOW_PATTERN": _choice(["L", "SL", "LS", "S"], "L"),
}


def table_for(constants: dict[str, Constant]) -> dict[str, dict[str, Any]]:
    """The small GPT's ranges for files shaped like it (EMBED_DIM, no ASPECT_RATIO), else Karpathy's."""
    if "EMBED_DIM" in constants and "ASPECT_RATIO" not in constants:
        return SMALL_GPT_SPACE
    return KARPATHY_SPACE


def default_space_dict(constants: dict[str, Constant]) -> dict[str, dict[str, Any]]:
    """The table's entries whose constant the file defines, each defaulting to the file's value.

    An entry whose constant holds a value of another kind (a string where a number is expected)
    is left out rather than guessed at.
    """
    space: dict[str, dict[str, Any]] = {}
    for name, spec in table_for(constants).items():
        binding = resolve(name, constants)
        if binding is None:
            continue
        fitted = _fit(spec, current_value(binding, constants))
        if fitted is not None:
            space[name] = fitted
    return space


def _fit(spec: dict[str, Any], value: Any) -> dict[str, Any] | None:
    spec = dict(spec)
    if spec["type"] == "choice":
        if isinstance(value, bool) or not isinstance(value, type(spec["default"])):
            return None
        if value not in spec["choices"]:
            spec["choices"] = [*spec["choices"], value]
        spec["default"] = value
        return spec
    if not is_number(value):
        return None
    if spec["type"] == "int" and isinstance(value, float):
        if not value.is_integer():
            spec["type"] = "float"
        else:
            value = int(value)
    spec["low"], spec["high"] = min(spec["low"], value), max(spec["high"], value)
    if spec.get("log") and spec["low"] <= 0:
        spec["log"] = False
    spec["default"] = float(value) if spec["type"] == "float" else value
    return spec
