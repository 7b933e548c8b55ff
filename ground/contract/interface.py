"""The mechanism interface in one table: the hooks, how each is called, what each returns, the limits
and what a mechanism may import. Standard library only (it runs inside the sandbox image too).

The static gate (hook names, signatures, the import allowlist, the size cap), the in-container
harness and trace driver, the mechanism hosts, the recipe catalog and the return checks
(`returns.py`) take it from here. The prompt document an LLM writes mechanisms from
(engine/prompts/mechanism_interface.md) is written by hand, because its exact bytes are part of every
recorded Level 2 request; tests/contract/test_interface_document.py fails when it and this table
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

HookName = Literal["guide", "stage", "propose", "review", "observe", "accept", "state_dict", "load_state_dict"]


@dataclass(frozen=True, slots=True)
class HookSpec:
    name: HookName
    params: tuple[str, ...]  # the positional parameters after self, in call order
    returns: str  # what the hook may return, in the prompt document's words


# In the order the engine calls them every iteration; then the two checkpoint hooks.
HOOK_SPECS: tuple[HookSpec, ...] = (
    HookSpec("guide", ("ctx",), 'None or {"focus": [names], "avoid": [names], "note": "..."}'),
    # Text runs only: a pipeline stage, called while the proposer revises (domains/text, engine/text/stages.py).
    HookSpec("stage", ("draft", "ctx"), "the revised draft, a str"),
    HookSpec("propose", ("ctx",), "None or a full parameter dict replacing the proposer's"),
    HookSpec("review", ("proposal", "ctx"), 'None, {"reject": "why"} or {"replace": {full params}}'),
    HookSpec("observe", ("trial", "ctx"), "returns None"),
    HookSpec("accept", ("trial", "incumbent", "ctx"), "True/False to override keep/discard, or None"),
    HookSpec("state_dict", (), "JSON-serializable dict"),
    HookSpec("load_state_dict", ("state",), ""),
)
ALL_HOOKS: tuple[str, ...] = get_args(HookName)
STATE_HOOKS: tuple[str, ...] = ("state_dict", "load_state_dict")
HOOKS: tuple[str, ...] = tuple(name for name in ALL_HOOKS if name not in STATE_HOOKS)  # called every iteration
# Positional parameters each hook is called with, `self` included (what the gate checks definitions against).
HOOK_SIGNATURES: dict[str, tuple[str, ...]] = {spec.name: ("self", *spec.params) for spec in HOOK_SPECS}

MAX_SOURCE_BYTES = 64 * 1024  # a mechanism is one module of at most this many bytes of UTF-8
MAX_NOTE_CHARS = 2000  # the longest note a guide hook may return
MAX_STATE_BYTES = 1024 * 1024  # the largest state_dict, as JSON
MAX_DRAFT_BYTES = 64 * 1024  # the longest draft a stage hook may return (UTF-8), as any draft of a text run
# Where a generated stage runs in a text run's pipeline: a class attribute `position`, "before:" or "after:"
# one of these stages (read from the source, never by importing it); without one, after the revision.
PIPELINE_STAGES: tuple[str, ...] = ("analysis", "hypotheses", "planning", "assessment", "revision")
DEFAULT_STAGE_POSITION = "after:revision"
# The most one hook call may return, as JSON (a run may set another budget): room for the longest draft a
# stage may return with every character escaped (\uXXXX is 6 bytes for 1 of UTF-8), and its quotes.
MAX_RETURN_BYTES = 6 * MAX_DRAFT_BYTES + 2

# ctx.llm(prompt, *, system=None, max_tokens=...): a hook may ask the run's model. The engine makes the call
# on the host with the run's client (no key, no network ever reaches the sandbox), counts it in the run's
# cost and --max-cost and records it in the cassette; offline, and in the smoke test, a deterministic
# stand-in answers. One hook call may ask at most MAX_LLM_CALLS times: the next request fails the mechanism
# (it is rolled back, or rejected at vetting). A request's texts and its answer are capped here.
MAX_LLM_CALLS = 4  # ctx.llm calls per hook invocation
MAX_LLM_PROMPT_CHARS = MAX_DRAFT_BYTES + 8 * 1024  # room for a whole draft and the instructions around it
MAX_LLM_SYSTEM_CHARS = 4000
DEFAULT_LLM_MAX_TOKENS = 1024
MAX_LLM_MAX_TOKENS = 16_384  # enough for a whole draft as the answer
MAX_LLM_ANSWER_CHARS = MAX_DRAFT_BYTES  # the longest answer a hook receives (longer ones are cut)
# One request as JSON on the worker's channel: both texts with every character escaped (12 bytes for a
# character beyond the BMP, a surrogate pair of \uXXXX), and the rest.
MAX_LLM_REQUEST_BYTES = 12 * (MAX_LLM_PROMPT_CHARS + MAX_LLM_SYSTEM_CHARS) + 1024

# What a mechanism may import unless a gate policy says otherwise.
DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = (
    "__future__",
    "bisect",
    "collections",
    "dataclasses",
    "functools",
    "heapq",
    "itertools",
    "math",
    "numpy",
    "random",
    "statistics",
    "torch",
    "typing",
)
# The only submodules of those a mechanism may reach, by import or through attributes, in the modules the
# gate keeps a census of (sandbox/gate/census.py: numpy, torch, the standard library ones above): linear
# algebra, random numbers, FFT and polynomials in numpy; networks, optimizers, distributions, autograd and
# the math namespaces in torch. The rest (numpy.testing, torch.utils, torch.profiler, torch.jit, typing.types,
# ...) run code, touch files or start processes, and a search mechanism needs none of them.
DEFAULT_ALLOWED_SUBMODULES: tuple[str, ...] = (
    "collections.abc",
    "numpy.fft",
    "numpy.linalg",
    "numpy.polynomial",
    "numpy.polynomial.polynomial",
    "numpy.random",
    "torch.autograd",
    "torch.autograd.functional",
    "torch.distributions",
    "torch.distributions.constraints",
    "torch.distributions.transforms",
    "torch.fft",
    "torch.func",
    "torch.linalg",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.init",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "torch.quasirandom",
    "torch.random",
    "torch.special",
)
