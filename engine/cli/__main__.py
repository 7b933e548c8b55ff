"""`python -m bilevel_evolve.engine.cli ...` is `evolve ...` (the ablation's child runs use it)."""

import sys

from bilevel_evolve.engine.cli.main import main

sys.exit(main())
