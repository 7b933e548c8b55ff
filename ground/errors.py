"""Errors the CLI turns into one clear message and an exit code (never a traceback)."""

from __future__ import annotations

# The exit codes of every `evolve` command.
EXIT_OK = 0
EXIT_FAILED = 1  # an EvolveError; also a check or replay that rejected, a verify that found damage
EXIT_USAGE = 2  # a UsageError (argparse exits 2 on bad flags as well)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: 128 + SIGINT, as a shell reports it; the run stays resumable


class EvolveError(Exception):
    """A failure the user can fix. Exit code EXIT_FAILED unless a subclass says otherwise."""

    exit_code = EXIT_FAILED

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class UsageError(EvolveError):
    """Bad command-line input or bad input files: exit code EXIT_USAGE."""

    exit_code = EXIT_USAGE


class SpaceError(UsageError):
    """A search space definition or a parameter dict does not fit the space."""


class RunDirError(UsageError):
    """A directory that is not (or is not yet) a run directory."""


class BudgetExceeded(EvolveError):
    """The LLM cost budget (--max-cost) is spent; the run stops cleanly and stays resumable."""


class InvalidAgentOutput(EvolveError):
    """A proposer's answer stayed unusable (e.g. an LLM reply that is still not valid JSON after the
    repair round). The loop records the step as an invalid proposal and goes on."""
