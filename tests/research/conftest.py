from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sandbox_ready() -> None:
    """Level 2 vets every candidate in the real box: Docker and the image must be there."""
    from engine.errors import EvolveError
    from sandbox.image import connect, image_name, require_image

    try:
        require_image(connect(timeout_s=60), image_name())
    except EvolveError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the sandbox cannot run: {exc.problem}", pytrace=False)
        pytest.skip(exc.problem)


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"
