"""One real, short training run of the shipped byte-level GPT."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.registry import load_domain


@pytest.mark.slow
def test_shipped_gpt_trains_briefly_to_a_finite_val_bpb(tmp_path: Path) -> None:
    domain = load_domain("train_opt", DomainOptions(time_budget_s=2, num_threads=1, trial_timeout_s=120))
    tiny = {**domain.space.defaults(), "DEPTH": 1, "EMBED_DIM": 32, "SEQ_LEN": 64, "TOTAL_BATCH_SIZE": 1024,
            "WINDOW_PATTERN": "S", "MATRIX_LR": 0.01}
    result = domain.run_trial(tiny, tmp_path, seed=3)
    assert result.status == "ok", result.message
    assert result.value is not None and math.isfinite(result.value)
    assert 0 < result.value < 8.5  # 8 bits per byte is a uniform guess over 256 values
    assert result.metrics["num_steps"] >= 1
    assert result.metrics["training_seconds"] >= 2
    assert result.metrics["num_params_M"] < 0.1
    log = (tmp_path / "train.log").read_text()
    assert "---" in log and "val_bpb:" in log
