"""Mechanism sources several test folders share."""

from __future__ import annotations

from bilevel_evolve.ground.contract.source import MechanismSource


def counting_mechanism(class_name: str, name: str) -> MechanismSource:
    """A well-behaved mechanism that counts the trials it observed, says so in a guide note, and keeps
    the count in its state (so a resume shows whether it saw every iteration)."""
    return MechanismSource.from_text(f"""
class {class_name}:
    name = "{name}"

    def __init__(self):
        self.seen = 0

    def observe(self, trial, ctx):
        self.seen += 1

    def guide(self, ctx):
        return {{"note": "seen %d" % self.seen}}

    def state_dict(self):
        return {{"seen": self.seen}}

    def load_state_dict(self, state):
        self.seen = int(state["seen"])

MECHANISM = {class_name}
""")
