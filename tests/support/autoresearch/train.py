"""
Autoresearch pretraining script. Single-GPU, single-file.
Cherry-picked and simplified from nanochat.
Usage: uv run train.py

(A stand-in for karpathy/autoresearch's train.py in the engine's tests: the same imports, constants
block, comments and summary lines, with the GPU training replaced by a formula of the constants that
runs in milliseconds. Like the real one, it needs the `kernels` package and prepare.py beside it.)
"""

import os
os.environ["PYTORCH_ALLOC_CONF"] = "expandable_segments:True"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

import math
import time

from kernels import get_kernel

from prepare import MAX_SEQ_LEN, TIME_BUDGET

# ---------------------------------------------------------------------------
# Hyperparameters (edit these directly, no CLI flags needed)
# ---------------------------------------------------------------------------

# Model architecture
ASPECT_RATIO = 64       # model_dim = depth * ASPECT_RATIO
HEAD_DIM = 128          # target head dimension for attention
WINDOW_PATTERN = "SSSL" # sliding window pattern: L=full, S=half context

# Optimization
TOTAL_BATCH_SIZE = 2**19 # ~524K tokens per optimizer step
EMBEDDING_LR = 0.6      # learning rate for token embeddings (Adam)
UNEMBEDDING_LR = 0.004  # learning rate for lm_head (Adam)
MATRIX_LR = 0.04        # learning rate for matrix parameters (Muon)
SCALAR_LR = 0.5         # learning rate for per-layer scalars (Adam)
WEIGHT_DECAY = 0.2      # cautious weight decay for Muon
ADAM_BETAS = (0.8, 0.95) # Adam beta1, beta2
WARMUP_RATIO = 0.0      # fraction of time budget for LR warmup
WARMDOWN_RATIO = 0.5    # fraction of time budget for LR warmdown
FINAL_LR_FRAC = 0.0     # final LR as fraction of initial

# Model size
DEPTH = 8               # number of transformer layers
DEVICE_BATCH_SIZE = 128  # per-device batch size (reduce if OOM)

# ---------------------------------------------------------------------------
# Setup and training (the stand-in: a formula instead of a GPU)
# ---------------------------------------------------------------------------

flash_attention = get_kernel("varunneal/flash-attention-3")
t_start = time.time()
tokens_per_fwdbwd = DEVICE_BATCH_SIZE * MAX_SEQ_LEN
assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0
if DEVICE_BATCH_SIZE * DEPTH * ASPECT_RATIO > 128 * 8 * 64:
    raise RuntimeError("CUDA out of memory. Tried to allocate 12.00 GiB (GPU 0; 79.11 GiB total capacity)")

# At a fixed time budget, a smaller batch means more optimizer steps: the stand-in rewards it.
steps = TIME_BUDGET * 2**19 / TOTAL_BATCH_SIZE
val_bpb = 0.95 + 0.3 / math.sqrt(steps / 100) + 2.0 * abs(math.log10(MATRIX_LR / 0.04)) ** 2 / 10

print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {TIME_BUDGET:.1f}")
print(f"total_seconds:    {time.time() - t_start + TIME_BUDGET:.1f}")
print("peak_vram_mb:     45060.2")
print(f"num_steps:        {int(steps)}")
print(f"depth:            {DEPTH}")
# ruff: noqa: I001  (the import layout of the original)
