"""The `evolve` command line: `main.py` builds the parser and is the console script; one module per
command group beside it. The roof of the package graph: nothing else imports it."""
