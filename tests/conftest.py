"""Shared fixtures: where the real data samples for tests live (outside the repository).

Real data for tests lives outside the repository, in ``../shared/data`` next to the checkout
(override with ``ELM_SHARED_DATA``). Tests that need it skip with a clear reason when absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ELM_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under the shared data folder, or skip the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (real samples live in ../shared/data; "
                    "set ELM_SHARED_DATA to point elsewhere)")
    return path


@pytest.fixture
def pretrained_dir() -> Path:
    return shared_path("elmneuron-pretrained")
