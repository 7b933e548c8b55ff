"""GPT pretraining: tune the upper-case constants of a train.py; metric val_bpb (lower is better)."""

from bilevel_evolve.domains.train_opt.domain import SHIPPED_TRAIN_PY, TrainOptDomain

__all__ = ["SHIPPED_TRAIN_PY", "TrainOptDomain"]
