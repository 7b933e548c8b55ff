"""train_opt trials on small fake train.py scripts: copies, metrics, and every failure status."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.train_opt import SHIPPED_TRAIN_PY, TrainOptDomain
from bilevel_evolve.domains.train_opt.spaces import KARPATHY_SPACE
from bilevel_evolve.ground.errors import UsageError

KARPATHY_BLOCK = """\
ASPECT_RATIO = 64
HEAD_DIM = 128
WINDOW_PATTERN = "SSSL"
TOTAL_BATCH_SIZE = 2**19
EMBEDDING_LR = 0.6
UNEMBEDDING_LR = 0.004
MATRIX_LR = 0.05
SCALAR_LR = 0.5
WEIGHT_DECAY = 0.2
ADAM_BETAS = (0.8, 0.95)
WARMUP_RATIO = 0.0
WARMDOWN_RATIO = 0.5
FINAL_LR_FRAC = 0.0
DEPTH = 8
DEVICE_BATCH_SIZE = 128
"""


def fake_train(tmp_path: Path, body: str, block: str = KARPATHY_BLOCK) -> Path:
    path = tmp_path / "src" / "train.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text("import os, sys, time\n" + block + textwrap.dedent(body))
    return path


REPORTS = """
print("step 1 | loss 3.0")
print("---")
print(f"val_bpb:          {MATRIX_LR * 10 + DEPTH:.6f}")
print("training_seconds: 300.1")
print("peak_vram_mb:     45060.2")
print("num_steps:        953")
print(f"seed:             {os.environ['SEED']}")
print("device:           cuda")
"""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_trial_runs_an_edited_copy_and_parses_the_summary(tmp_path: Path) -> None:
    train = fake_train(tmp_path, REPORTS)
    before = sha(train)
    domain = TrainOptDomain(train)
    params = {**domain.space.defaults(), "MATRIX_LR": 0.1, "DEPTH": 4}
    trial_dir = tmp_path / "trial"
    result = domain.run_trial(params, trial_dir, seed=7)
    assert result.status == "ok"
    assert result.value == pytest.approx(0.1 * 10 + 4)
    assert result.metrics == {"training_seconds": 300.1, "peak_vram_mb": 45060.2, "num_steps": 953.0, "seed": 7.0}
    assert "MATRIX_LR = 0.1\n" in (trial_dir / "train.py").read_text()
    assert "val_bpb" in (trial_dir / "train.log").read_text()
    assert sha(train) == before


def test_default_space_uses_karpathy_names_present_with_the_file_values_as_defaults(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, REPORTS))
    assert set(domain.space.names) == set(KARPATHY_SPACE)
    defaults = domain.space.defaults()
    assert defaults["MATRIX_LR"] == 0.05  # the file's value, not the table's 0.04
    assert defaults["TOTAL_BATCH_SIZE"] == 2**19
    assert (defaults["ADAM_BETA1"], defaults["ADAM_BETA2"]) == (0.8, 0.95)
    assert domain.space.params["MATRIX_LR"].log  # type: ignore[union-attr]


def test_default_space_is_restricted_to_the_constants_present(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, REPORTS, block="MATRIX_LR = 0.05\nDEPTH = 20\n"))
    assert domain.space.names == ["MATRIX_LR", "DEPTH"]
    depth = domain.space.params["DEPTH"]
    assert depth.default == 20 and depth.high >= 20  # type: ignore[union-attr]  # range widened


def test_train_py_without_the_constants_names_the_expected_ones(tmp_path: Path) -> None:
    train = fake_train(tmp_path, REPORTS, block="lr = 0.1\nSTEPS = [1, 2]\n")
    with pytest.raises(UsageError) as info:
        TrainOptDomain(train)
    assert "MATRIX_LR" in str(info.value) and "TOTAL_BATCH_SIZE" in str(info.value)
    assert str(train) in str(info.value)


def test_missing_train_py_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        TrainOptDomain(tmp_path / "nope.py")


def test_a_string_where_a_number_belongs_is_an_invalid_trial_and_writes_nothing(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, REPORTS))
    params = {**domain.space.defaults(), "MATRIX_LR": "0.1); import os; os.system('id'); (0"}
    trial_dir = tmp_path / "trial"
    result = domain.run_trial(params, trial_dir, seed=0)
    assert result.status == "invalid"
    assert not trial_dir.exists()


def test_a_string_choice_outside_the_choices_is_an_invalid_trial(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, REPORTS))
    params = {**domain.space.defaults(), "WINDOW_PATTERN": "L'\nimport os\nx='"}
    assert domain.run_trial(params, tmp_path / "trial", seed=0).status == "invalid"


def test_missing_metric_line_fails_with_the_output_tail(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, 'print("training done, but no summary")\n'))
    result = domain.run_trial(domain.space.defaults(), tmp_path / "trial", seed=0)
    assert result.status == "failed"
    assert "val_bpb" in result.message and "training done, but no summary" in result.message


def test_nan_metric_is_a_failed_trial(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, 'print("---")\nprint("val_bpb: nan")\n'))
    result = domain.run_trial(domain.space.defaults(), tmp_path / "trial", seed=0)
    assert result.status == "failed"
    assert "nan" in result.message


def test_karpathy_fail_exit_is_a_crashed_trial_saying_so(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, 'print("FAIL")\nsys.exit(1)\n'))
    result = domain.run_trial(domain.space.defaults(), tmp_path / "trial", seed=0)
    assert result.status == "crashed"
    assert "status 1" in result.message and "FAIL" in result.message


def test_exception_is_a_crashed_trial_with_the_traceback_tail(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, 'raise RuntimeError("CUDA out of memory")\n'))
    result = domain.run_trial(domain.space.defaults(), tmp_path / "trial", seed=0)
    assert result.status == "crashed"
    assert "CUDA out of memory" in result.message


def test_slow_run_is_a_timeout(tmp_path: Path) -> None:
    domain = TrainOptDomain(fake_train(tmp_path, "time.sleep(60)\n" + REPORTS),
                            DomainOptions(trial_timeout_s=1))
    result = domain.run_trial(domain.space.defaults(), tmp_path / "trial", seed=0)
    assert result.status == "timeout"


def test_sibling_modules_of_train_py_stay_importable(tmp_path: Path) -> None:
    train = fake_train(tmp_path, "from prepare import BASE\nprint('---')\nprint(f'val_bpb: {BASE}')\n")
    (train.parent / "prepare.py").write_text("BASE = 1.25\n")
    domain = TrainOptDomain(train)
    result = domain.run_trial(domain.space.defaults(), tmp_path / "trial", seed=0)
    assert (result.status, result.value) == ("ok", 1.25)


def test_time_budget_option_rewrites_time_budget(tmp_path: Path) -> None:
    train = fake_train(tmp_path, "print('---')\nprint(f'val_bpb: {TIME_BUDGET}')\n",
                       block="TIME_BUDGET = 300\nMATRIX_LR = 0.04\n")
    domain = TrainOptDomain(train, DomainOptions(time_budget_s=5))
    assert domain.describe()["time_budget_s"] == 5
    assert domain.describe()["trial_timeout_s"] == 3 * 5 + 120
    result = domain.run_trial(domain.space.defaults(), tmp_path / "trial", seed=0)
    assert result.value == 5
    assert "TIME_BUDGET = 5\n" in (tmp_path / "trial" / "train.py").read_text()


def test_time_budget_option_without_the_constant_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="TIME_BUDGET"):
        TrainOptDomain(fake_train(tmp_path, REPORTS), DomainOptions(time_budget_s=5))


def test_space_file_overrides_and_must_name_real_constants(tmp_path: Path) -> None:
    train = fake_train(tmp_path, REPORTS)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"ADAM_BETAS__1": {"type": "float", "low": 0.9, "high": 0.99, "default": 0.95}}))
    domain = TrainOptDomain(train, DomainOptions(space_file=space))
    assert domain.space.names == ["ADAM_BETAS__1"]
    domain.run_trial({"ADAM_BETAS__1": 0.97}, tmp_path / "trial", seed=0)
    assert "ADAM_BETAS = (0.8, 0.97)" in (tmp_path / "trial" / "train.py").read_text()

    space.write_text(json.dumps({"NOT_THERE": {"type": "float", "low": 0, "high": 1, "default": 0.5}}))
    with pytest.raises(UsageError, match="NOT_THERE"):
        TrainOptDomain(train, DomainOptions(space_file=space))


def test_shipped_train_py_space_uses_its_own_ranges() -> None:
    domain = TrainOptDomain(SHIPPED_TRAIN_PY)
    assert domain.space.params["DEPTH"].high <= 8  # type: ignore[union-attr]  # a CPU-sized model
    assert {"EMBED_DIM", "SEQ_LEN", "TOTAL_BATCH_SIZE"} <= set(domain.space.names)
    assert domain.describe()["time_budget_s"] == 20.0
