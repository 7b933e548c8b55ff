"""Any program as a domain: parameters as arguments or environment, metric by regex."""

from bilevel_evolve.domains.command.domain import ENV_PREFIX, CommandDomain, render_value
from bilevel_evolve.domains.command.spec import CommandSpec, load_spec

__all__ = ["ENV_PREFIX", "CommandDomain", "CommandSpec", "load_spec", "render_value"]
