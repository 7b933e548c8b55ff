"""A small byte-level GPT that pretrains on CPU in seconds: the train_opt domain's shipped task.

It follows the contract of Karpathy's autoresearch train.py, so the same domain drives both:
- the hyperparameters are the upper-case module constants below (the domain rewrites their
  values in a copy of this file, never this file);
- training stops after TIME_BUDGET seconds of counted training time;
- the run ends with a line '---' and then 'key: value' lines, val_bpb first;
- a NaN or infinite loss prints FAIL and exits with status 1.

The corpus is the Python standard library's own top-level .py sources (present on every
machine with Python, so it runs offline): files sorted by name, every tenth file held out for
validation. val_bpb = summed cross-entropy in nats / (ln 2 x target bytes) on a fixed slice of
the held-out bytes. Absolute values depend on the Python version's stdlib; compare runs on one
machine.

Environment: SEED (default 42) seeds torch; EVOLVE_NUM_THREADS caps torch's CPU threads
(default min(4, cpu count)). CUDA is used when torch.cuda.is_available().
"""

from __future__ import annotations

import math
import os
import sys
import sysconfig
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# ---- hyperparameters (upper-case constants; the train_opt domain edits these in a copy) ----
TIME_BUDGET = 20.0  # seconds of training (excludes data loading and the final evaluation)
DEPTH = 2  # transformer blocks
EMBED_DIM = 64  # model width
HEAD_DIM = 16  # width of one attention head: EMBED_DIM // HEAD_DIM heads
SEQ_LEN = 128  # context length in bytes
WINDOW_PATTERN = "L"  # per layer, cycled: L = full causal attention, S = window of SEQ_LEN // 4
TOTAL_BATCH_SIZE = 8192  # tokens (bytes) per optimizer step; sequences per step = this // SEQ_LEN
EMBEDDING_LR = 0.001  # token and position embeddings
UNEMBEDDING_LR = 0.001  # output head
MATRIX_LR = 0.001  # weight matrices inside the blocks
SCALAR_LR = 0.001  # norm gains and biases
WEIGHT_DECAY = 0.1  # AdamW decay, applied to the block matrices only
ADAM_BETAS = (0.9, 0.95)
WARMUP_RATIO = 0.0  # fraction of TIME_BUDGET spent ramping the LR up from 0
WARMDOWN_RATIO = 0.5  # final fraction of TIME_BUDGET spent ramping the LR down
FINAL_LR_FRAC = 0.0  # LR multiplier reached at the end of the warmdown

VOCAB = 256
VAL_BYTES = 65536  # size of the fixed validation slice
EVAL_BATCH = 64  # windows per evaluation forward pass


def load_corpus() -> tuple[torch.Tensor, torch.Tensor]:
    stdlib = Path(sysconfig.get_paths().get("stdlib") or Path(os.__file__).parent)
    if not any(stdlib.glob("*.py")):
        stdlib = Path(os.__file__).parent
    files = sorted(stdlib.glob("*.py"), key=lambda p: p.name)
    train_parts = [f.read_bytes() for i, f in enumerate(files) if i % 10 != 9]
    val_parts = [f.read_bytes() for i, f in enumerate(files) if i % 10 == 9]
    train, val = b"".join(train_parts), b"".join(val_parts)[:VAL_BYTES]
    if len(val) < VAL_BYTES or len(train) < 10 * VAL_BYTES:
        sys.exit(f"corpus too small: {len(train)} train / {len(val)} val bytes from {stdlib}")
    as_tensor = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8).long()  # noqa: E731
    return as_tensor(train), as_tensor(val)


class Block(nn.Module):
    def __init__(self, window: int | None) -> None:
        super().__init__()
        self.n_head = max(1, EMBED_DIM // HEAD_DIM)
        while EMBED_DIM % self.n_head:  # heads must split the width evenly
            self.n_head -= 1
        self.window = window
        self.norm1 = nn.LayerNorm(EMBED_DIM)
        self.qkv = nn.Linear(EMBED_DIM, 3 * EMBED_DIM)
        self.proj = nn.Linear(EMBED_DIM, EMBED_DIM)
        self.norm2 = nn.LayerNorm(EMBED_DIM)
        self.fc = nn.Linear(EMBED_DIM, 4 * EMBED_DIM)
        self.out = nn.Linear(4 * EMBED_DIM, EMBED_DIM)

    def attention_mask(self, t: int, device: torch.device) -> torch.Tensor | None:
        if self.window is None:
            return None
        i = torch.arange(t, device=device)
        offset = i[:, None] - i[None, :]
        return (offset >= 0) & (offset < self.window)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        mask = self.attention_mask(t, x.device)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.norm2(x))))


class GPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, EMBED_DIM)
        self.pos = nn.Embedding(SEQ_LEN, EMBED_DIM)
        pattern = WINDOW_PATTERN or "L"
        windows = [max(1, SEQ_LEN // 4) if pattern[i % len(pattern)] == "S" else None for i in range(DEPTH)]
        self.blocks = nn.ModuleList(Block(w) for w in windows)
        self.norm = nn.LayerNorm(EMBED_DIM)
        self.head = nn.Linear(EMBED_DIM, VOCAB, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def param_groups(model: GPT) -> list[dict]:
    embed = [model.tok.weight, model.pos.weight]
    head = [model.head.weight]
    named = [(n, p) for n, p in model.named_parameters() if n.startswith(("blocks.", "norm."))]
    matrices = [p for _, p in named if p.ndim == 2]
    scalars = [p for _, p in named if p.ndim < 2]
    return [
        {"params": embed, "lr": EMBEDDING_LR, "weight_decay": 0.0},
        {"params": head, "lr": UNEMBEDDING_LR, "weight_decay": 0.0},
        {"params": matrices, "lr": MATRIX_LR, "weight_decay": WEIGHT_DECAY},
        {"params": scalars, "lr": SCALAR_LR, "weight_decay": 0.0},
    ]


def lr_multiplier(progress: float) -> float:
    if WARMUP_RATIO > 0 and progress < WARMUP_RATIO:
        return progress / WARMUP_RATIO
    if WARMDOWN_RATIO > 0 and progress > 1 - WARMDOWN_RATIO:
        remaining = (1 - progress) / WARMDOWN_RATIO
        return FINAL_LR_FRAC + (1 - FINAL_LR_FRAC) * max(0.0, remaining)
    return 1.0


@torch.no_grad()
def evaluate_bpb(model: GPT, val: torch.Tensor, device: torch.device) -> float:
    model.eval()
    n_windows = (len(val) - 1) // SEQ_LEN
    starts = torch.arange(n_windows) * SEQ_LEN
    total_nats, total_targets = 0.0, 0
    for i in range(0, n_windows, EVAL_BATCH):
        s = starts[i : i + EVAL_BATCH]
        rows = s[:, None] + torch.arange(SEQ_LEN + 1)[None, :]
        chunk = val[rows].to(device)
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB).float(), chunk[:, 1:].reshape(-1), reduction="sum")
        total_nats += loss.item()
        total_targets += chunk[:, 1:].numel()
    model.train()
    return total_nats / (math.log(2) * total_targets)


def fail(reason: str) -> None:
    print(f"FAIL: {reason}", flush=True)
    sys.exit(1)


def main() -> None:
    t_start = time.time()
    seed = int(os.environ.get("SEED", "42"))
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("EVOLVE_NUM_THREADS", min(4, os.cpu_count() or 1))))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    train, val = load_corpus()
    model = GPT().to(device)
    optimizer = torch.optim.AdamW(param_groups(model), betas=ADAM_BETAS)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    batch_seqs = max(1, TOTAL_BATCH_SIZE // SEQ_LEN)
    gen = torch.Generator().manual_seed(seed)
    num_params = sum(p.numel() for p in model.parameters())
    print(f"device {device} | params {num_params} | {batch_seqs} x {SEQ_LEN} bytes per step", flush=True)

    step, training_time, last_report = 0, 0.0, 0.0
    while training_time < TIME_BUDGET:
        t0 = time.time()
        mult = lr_multiplier(training_time / TIME_BUDGET)
        for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base * mult
        starts = torch.randint(0, len(train) - SEQ_LEN - 1, (batch_seqs,), generator=gen)
        rows = train[starts[:, None] + torch.arange(SEQ_LEN + 1)[None, :]].to(device)
        logits = model(rows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), rows[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            fail(f"loss is {loss_value} at step {step}")
        step += 1
        training_time += time.time() - t0
        if training_time - last_report >= 2.0:
            last_report = training_time
            print(f"step {step} | loss {loss_value:.4f} | lr x{mult:.2f} | {training_time:.1f}s", flush=True)

    val_bpb = evaluate_bpb(model, val, device)
    if not math.isfinite(val_bpb):
        fail(f"val_bpb is {val_bpb}")
    print("---")
    print(f"val_bpb:          {val_bpb:.6f}")
    print(f"training_seconds: {training_time:.1f}")
    print(f"total_seconds:    {time.time() - t_start:.1f}")
    print(f"num_steps:        {step}")
    print(f"num_params_M:     {num_params / 1e6:.3f}")
    print(f"tokens_M:         {step * batch_seqs * SEQ_LEN / 1e6:.3f}")
    print(f"depth:            {DEPTH}")


if __name__ == "__main__":
    main()
