"""Stand-in for autoresearch's prepare.py: the fixed constants train.py imports (data and tokenizer
preparation left out)."""

MAX_SEQ_LEN = 2048       # context length
TIME_BUDGET = 300        # training time budget in seconds (5 minutes)
EVAL_TOKENS = 40 * 524288  # number of tokens for val eval
