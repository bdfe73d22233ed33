"""Shared fixtures: the real third-party fixtures folder and one local Ray per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataengine.runner.ray_session import bind_local_ray_to_loopback

# The suite starts local Rays only (in this process and in the CLIs it runs), and some
# modules it imports import ray: bind them to loopback before any of that happens.
bind_local_ray_to_loopback()

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
    """One local Ray for the whole test session (2 CPUs, loopback only), shut down at the end."""
    from dataengine.runner.ray_session import init_ray

    init_ray(num_cpus=2)
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()
