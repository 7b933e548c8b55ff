"""Read back the ablation's engine log (OUT/engines.jsonl) that EnginePool writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bilevel_evolve.sandbox.engine_pool import ASSIGNMENTS_FILE


def read_assignments(out: Path) -> list[dict[str, Any]]:
    """The events of OUT/engines.jsonl: pool, run (which engine ran which run), lost, requeued, rejoined."""
    path = out / ASSIGNMENTS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
