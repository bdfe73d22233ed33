"""Shared fixtures: the real third-party fixtures folder, one local Ray per test session, an S3 server, a tiny CLIP."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_paths import FIXTURES

from dataengine.runner.ray_session import bind_local_ray_to_loopback

# The suite starts local Rays only (in this process and in the CLIs it runs), and some
# modules it imports import ray: bind them to loopback before any of that happens.
bind_local_ray_to_loopback()



@pytest.fixture(scope="session")
def fixtures() -> Path:
    """``../shared/fixtures``; tests using it skip when it is absent (e.g. outside this workplace)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def sample_web_server(tmp_path_factory):
    """The sample web (30 pages, seed 1) served over loopback HTTP for the whole session."""
    from dataengine.sampleweb.generate import SampleWebConfig, generate_site
    from dataengine.sampleweb.server import SampleWebServer

    site = tmp_path_factory.mktemp("site")
    generate_site(site, SampleWebConfig(pages=30, seed=1))
    with SampleWebServer(site) as server:
        yield server


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


# A real open_clip architecture (ViT image tower, transformer text tower, CLIP's BPE
# tokenizer), small enough to build in a blink; weights are random.
TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
             "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> tuple[str, str]:
    """(model config JSON path, checkpoint path) of a tiny random CLIP, as a user would pass them."""
    import json

    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("clip")
    config = folder / "tiny-test-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms("tiny-test-clip", pretrained=None)
    checkpoint = folder / "tiny-test-clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return str(config), str(checkpoint)


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 API server on a free loopback port, empty; yields an s3fs client for it.

    ``s3.storage_options`` are the settings that point any s3fs at it (Ray workers do not
    see this process's environment, so pipelines pass them). The environment carries fake
    credentials and the loopback endpoint too: nothing here can reach a real AWS account.
    """
    import requests
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto keeps buckets per process, not per server
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    options = {"key": "testing", "secret": "testing",
               "client_kwargs": {"endpoint_url": endpoint, "region_name": "eu-west-1"}}
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(**options)
    fs.storage_options = options
    try:
        yield fs
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the session's Ray as ``ray``."""
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)
