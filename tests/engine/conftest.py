from __future__ import annotations

import pytest
from support.domains import QuadraticDomain


@pytest.fixture
def quadratic() -> QuadraticDomain:
    return QuadraticDomain()
