"""Joining a Ray cluster, or starting a local Ray that talks to loopback only.

With an address (``auto``, ``ray://...``, ``host:port``), or ``RAY_ADDRESS`` set as
``ray job submit`` does, Ray is joined exactly as Ray does it: a cluster is the cluster's
business. Without one, a new local Ray is started for this process, and two of Ray's
defaults would reach beyond the machine:

- Ray picks the node's address from the route towards 8.8.8.8, so a laptop's Ray listens
  on its LAN address. ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is Ray's own switch for a
  single-machine Ray that binds to 127.0.0.1; Ray reads it when it is imported, so it is
  set before the first ``import ray`` (nothing in this package imports Ray at module level).
- The dashboard process, started even with ``include_dashboard=False``, runs the
  usage-stats module, which asks the cloud metadata services (169.254.169.254,
  metadata.google.internal) which cloud it is on unless ``~/ray_bootstrap_config.yaml``
  exists, whether usage stats are enabled or not. Ray's own processes are therefore
  started with ``HOME`` pointing at a folder holding an empty cluster config (``{}``: not
  launched from a cluster config) and a link to the real ``~/.ray`` (the auth token); the
  workers that run our tasks get the real ``HOME`` back through the job's runtime env.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SINGLE_MACHINE_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
AUTH_MODE_VAR = "RAY_AUTH_MODE"


def joins_cluster(address: str | None) -> bool:
    """True when ``address`` (or ``RAY_ADDRESS``) names a cluster to join instead of a local Ray."""
    return bool(address) or bool(os.environ.get("RAY_ADDRESS"))


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), or start a loopback-only local Ray.

    ``num_cpus`` caps a local Ray (tests, benchmarks); a cluster has the resources it has.
    Does nothing when Ray is already initialised in this process.
    """
    local = not joins_cluster(address)
    if local:
        bind_local_ray_to_loopback()
    import ray

    if ray.is_initialized():
        return
    options = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False}
    if not local:
        ray.init(address=address, **options)
        return
    with _ray_processes_home() as real_home:
        ray.init(address="local", num_cpus=num_cpus, runtime_env={"env_vars": {"HOME": real_home}},
                 **options)


def bind_local_ray_to_loopback() -> None:
    """Make a local Ray started by this process listen on 127.0.0.1; call before ray is imported.

    Entry points call it as early as they know the run is local (the CLI after parsing its
    arguments), since importing some libraries (img2dataset) imports ray.
    """
    if "ray" not in sys.modules:
        # Token authentication on, as Ray's default is; naming it keeps Ray from printing a notice
        # about its default on every local start. Ray reads it when imported, hence here.
        os.environ.setdefault(AUTH_MODE_VAR, "token")
    if os.environ.get(SINGLE_MACHINE_VAR) == "0":
        return
    if "ray" in sys.modules:
        # Ray has read its setting already and would pick a LAN address; refuse rather than
        # start a Ray that listens beyond loopback.
        raise RuntimeError("ray was imported before dataengine started a local Ray, so it cannot be bound "
                           f"to loopback; set {SINGLE_MACHINE_VAR}=0 before importing ray, or pass an address")
    os.environ[SINGLE_MACHINE_VAR] = "0"


@contextmanager
def _ray_processes_home() -> Iterator[str]:
    """``HOME`` is a folder without cloud hints while Ray starts its processes; yields the real one."""
    real = Path.home()
    home = Path(tempfile.gettempdir()) / f"dataengine-ray-home-{os.getuid()}"
    home.mkdir(mode=0o700, exist_ok=True)
    config = home / "ray_bootstrap_config.yaml"
    if not config.exists():
        partial = home / f".ray_bootstrap_config.{os.getpid()}"
        partial.write_text("{}\n")
        partial.replace(config)  # atomic: a concurrent start never reads a half-written file
    (real / ".ray").mkdir(exist_ok=True)
    link = home / ".ray"
    if not link.is_symlink():
        try:
            link.symlink_to(real / ".ray", target_is_directory=True)
        except FileExistsError:  # another process made it first
            pass
    before = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        yield str(real)
    finally:
        if before is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = before
