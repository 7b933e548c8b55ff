from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from bilevel_evolve.mechanism_archive.archive import Archive


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    arch = Archive.open(tmp_path / "archive", create=True)
    yield arch
    arch.close()
