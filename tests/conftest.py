"""Shared fixtures: the real third-party fixtures folder and one local Ray per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """``../shared/fixtures``; tests using it skip when it is absent (e.g. outside this workplace)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (2 CPUs), shut down at the end."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()
