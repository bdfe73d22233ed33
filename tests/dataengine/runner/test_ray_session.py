"""A local Ray talks to loopback only; joining a cluster is left to Ray."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from repo_paths import REPO

from dataengine.runner.ray_session import SINGLE_MACHINE_VAR, joins_cluster

# Starts a local Ray as every entry point does (bind first, since importing img2dataset
# imports ray), runs tasks on workers, and waits until the dashboard's usage-stats module
# has looked for the cluster's cloud (where the metadata probe was).
PROBE = textwrap.dedent("""
    import glob, json, os, sys, time
    from dataengine.runner.ray_session import bind_local_ray_to_loopback, init_ray
    bind_local_ray_to_loopback()
    import dataengine.images.process
    init_ray(num_cpus=1)
    import ray, ray.data
    rows = ray.data.range(4).map(lambda r: {"home": os.environ["HOME"]}).take_all()
    node_ip = ray.get(ray.remote(lambda: ray.util.get_node_ip_address()).remote())
    logs = glob.glob(os.path.join(os.environ["RAY_TMPDIR"], "ray", "session_latest", "logs", "dashboard.log"))
    deadline = time.time() + 60
    while time.time() < deadline and not any("Usage reporting is" in open(p).read() for p in logs):
        time.sleep(0.5)
    print(json.dumps({"homes": sorted({r["home"] for r in rows}), "node_ip": node_ip,
                      "probed": any("Usage reporting is" in open(p).read() for p in logs)}))
    ray.shutdown()
""")

_INET = re.compile(r'connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\), '
                   r'(?:sin_addr=inet_addr\("([^"]+)"\)|.*?inet_pton\(AF_INET6, "([^"]+)")')


def _addresses(trace: str) -> list[tuple[str, int]]:
    """Every (address, port) an AF_INET/AF_INET6 connect() in an ``strace -f`` log went to."""
    return [(m.group(2) or m.group(3), int(m.group(1))) for m in _INET.finditer(trace)]


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to see every connection attempt")
def test_local_ray_start_connects_to_loopback_only(tmp_path):
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths must stay short
    env = {k: v for k, v in os.environ.items() if k not in (SINGLE_MACHINE_VAR, "RAY_ADDRESS")}
    env.update(RAY_TMPDIR=str(ray_tmp), PYTHONPATH=str(REPO))
    trace = tmp_path / "connect.log"
    try:
        done = subprocess.run(["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect", "-o", str(trace),
                               sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=240)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert result["probed"], "the dashboard never reached its cloud check; the trace proves nothing"
    assert result["node_ip"] == "127.0.0.1"
    assert result["homes"] == [str(Path.home())]  # workers see the real HOME
    addresses = _addresses(trace.read_text())
    assert addresses, "strace saw no connection at all"
    beyond = sorted({a for a, _ in addresses if not _is_loopback(a)})
    assert beyond == [], f"a local Ray tried to reach {beyond}"


def test_a_local_start_after_ray_was_imported_is_refused():
    env = {k: v for k, v in os.environ.items() if k not in (SINGLE_MACHINE_VAR, "RAY_ADDRESS")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", "import ray\nfrom dataengine.runner.ray_session import init_ray\n"
                           "init_ray()"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "cannot be bound to loopback" in done.stderr


def test_an_address_or_ray_address_joins_a_cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not joins_cluster(None)
    assert joins_cluster("auto") and joins_cluster("ray://127.0.0.1:10001")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # as `ray job submit` sets it
    assert joins_cluster(None)


def test_trace_parser_reads_both_families():
    trace = ('12 connect(7, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("169.254.169.254")}, 16) '
             '= -1 EINPROGRESS\n13 connect(8, {sa_family=AF_INET6, sin6_port=htons(5), sin6_flowinfo=htonl(0), '
             'inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0\n'
             '14 connect(9, {sa_family=AF_UNIX, sun_path="/tmp/x"}, 110) = 0\n')
    assert _addresses(trace) == [("169.254.169.254", 80), ("::ffff:127.0.0.1", 5)]
    assert not _is_loopback("169.254.169.254") and _is_loopback("::ffff:127.0.0.1")
