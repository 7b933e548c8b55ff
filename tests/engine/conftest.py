from __future__ import annotations

import pytest
from quadratic_domain import QuadraticDomain


@pytest.fixture
def quadratic() -> QuadraticDomain:
    return QuadraticDomain()
