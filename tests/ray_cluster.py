"""A real multi-node Ray on this machine, as a user starts one: ``ray start --head`` plus worker
nodes joined to it with ``ray start --address``, each node a raylet of its own with its own
resources, and the dashboard's job server for ``ray job submit``.

Ray rewrites a ``127.0.0.1`` cluster address to the address of the machine's default route,
so a multi-node Ray stays on loopback only where loopback is all there is: the tests that
use it run in a network namespace with only ``lo`` (``.ci/run`` runs ``make test`` in one)
and are skipped elsewhere. Two more of Ray's defaults are switched off for the processes
``ray start`` spawns: the usage-stats module's report (``ray start`` sends a one-time
"disabled" report even with ``--disable-usage-stats``: ``RAY_USAGE_STATS_REPORT_URL`` points
it at a closed loopback port) and its cloud-metadata probe (an empty
``~/ray_bootstrap_config.yaml`` in the ``HOME`` they get).

Every process of the cluster carries ``CLUSTER_VAR`` in its environment, so ``stop`` kills
this cluster's processes and nothing else (``ray stop`` would kill every Ray on the machine,
the test session's own included).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from repo_paths import REPO

CLUSTER_VAR = "DATAENGINE_TEST_CLUSTER"
NODE_VAR = "DATAENGINE_TEST_NODE"
BIN = Path(sys.executable).parent


def loopback_only() -> bool:
    """Whether this process's network namespace has no interface but ``lo``."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]  # /sys/class/net may show another namespace


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environ(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


class LoopbackCluster:
    """``ray start --head`` with ``head_cpus`` CPUs, and one joined node per entry of ``nodes`` (name -> CPUs).

    Each joined node has a custom resource named after it (``{name: 1}``), so a test can tell
    the nodes apart and kill one (``kill_raylet``).
    """

    def __init__(self, root: Path, head_cpus: int, nodes: dict[str, int]):
        self.root, self.head_cpus, self.nodes = root, head_cpus, nodes
        self.id = uuid.uuid4().hex[:8]
        self.port, self.dashboard_port, self.client_port = _free_port(), _free_port(), _free_port()
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "ray_bootstrap_config.yaml").write_text("{}\n")
        self.temp_dir = Path("/tmp") / f"rc-{self.id}"  # Ray's socket paths must stay short

        self.env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(home),
                    "RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
                    CLUSTER_VAR: self.id}
        self.env.pop("RAY_ADDRESS", None)
        self.env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # set for the session's local Ray only
        # The session's local ray.init() turned token authentication on in this process's environment;
        # this cluster is started from a shell, as a user starts one, where it is off unless asked for.
        self.env["RAY_AUTH_MODE"] = "disabled"

    @property
    def address(self) -> str:
        """The GCS address nodes and drivers join."""
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard(self) -> str:
        """The job server's address (``RAY_ADDRESS`` for ``ray job submit``)."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _ray(self, *args: str, node: str = "head") -> None:
        # Each node's agents get ports of their own: the defaults (52365...) clash with the other
        # nodes' on one machine, and with the test session's own local Ray.
        ports = [x for option in ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                                  "--metrics-export-port", "--runtime-env-agent-port")
                 for x in (option, str(_free_port()))]
        done = subprocess.run([str(BIN / "ray"), *args, *ports], env={**self.env, NODE_VAR: node}, capture_output=True,
                              text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")

    def start(self) -> LoopbackCluster:
        """Start the head, then join the nodes; returns once every node is alive."""
        common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--object-store-memory", "200000000"]
        self._ray("start", "--head", "--port", str(self.port), "--num-cpus", str(self.head_cpus),
                  "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
                  "--dashboard-port", str(self.dashboard_port), "--ray-client-server-port", str(self.client_port),
                  "--temp-dir", str(self.temp_dir), *common)
        for name, cpus in self.nodes.items():
            self._ray("start", "--address", self.address, "--num-cpus", str(cpus),
                      "--resources", json.dumps({name: 1}), *common, node=name)
        self.wait_for_nodes(1 + len(self.nodes))
        self._wait_for_job_server()
        return self

    def _wait_for_job_server(self, timeout: float = 90) -> None:
        # The dashboard answers before the head's agent that runs jobs has registered ("No available
        # agent to submit job, please try again later"): submit a job that does nothing until one is taken.
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", self.dashboard, "--no-wait",
                                   "--", "true"], env=self.env, capture_output=True, text=True, timeout=60)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the job server at {self.dashboard} takes no job: {done.stderr[-1000:]}")
            time.sleep(1)

    def alive_nodes(self) -> int:
        """How many nodes the cluster counts alive (``ray list nodes``)."""
        done = subprocess.run([str(BIN / "ray"), "list", "nodes", "--address", self.address, "--format", "json",
                               "--filter", "state=ALIVE"], env=self.env, capture_output=True, text=True, timeout=60)
        return len(json.loads(done.stdout)) if done.returncode == 0 else 0

    def wait_for_nodes(self, n: int, timeout: float = 60) -> None:
        """Wait until exactly ``n`` nodes are alive."""
        deadline = time.monotonic() + timeout
        while self.alive_nodes() != n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster has {self.alive_nodes()} nodes alive, not {n}")
            time.sleep(1)

    def _pids(self, node: str | None = None) -> list[int]:
        marks = [f"{CLUSTER_VAR}={self.id}".encode()] + ([f"{NODE_VAR}={node}".encode()] if node else [])
        pids = []
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                env = _environ(pid).split(b"\0")
                if all(m in env for m in marks):
                    pids.append(int(pid))
        return pids

    def kill_raylet(self, node: str) -> int:
        """SIGKILL the raylet of node ``node``, as a lost machine would; returns its pid."""
        for pid in self._pids(node):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if exe.endswith("/raylet"):
                os.kill(pid, signal.SIGKILL)
                return pid
        raise LookupError(f"no raylet of node {node} is running")

    def stop(self) -> None:
        """SIGKILL every process of this cluster (and nothing else)."""
        for _ in range(3):
            pids = self._pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", str(self.temp_dir)], check=False)

    def submit(self, *entrypoint: str, wait: bool = True, timeout: float = 400) -> subprocess.CompletedProcess:
        """``ray job submit --runtime-env jobs/runtime_env.yaml -- ENTRYPOINT`` from the repository."""
        args = [str(BIN / "ray"), "job", "submit", "--address", self.dashboard, "--runtime-env",
                "jobs/runtime_env.yaml", *([] if wait else ["--no-wait"]), "--", *entrypoint]
        return subprocess.run(args, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout)

    def stop_job(self, job_id: str, timeout: float = 60) -> None:
        """``ray job stop``, then wait until the job says it ended."""
        subprocess.run([str(BIN / "ray"), "job", "stop", "--address", self.dashboard, "--no-wait", job_id],
                       env=self.env, capture_output=True, text=True, timeout=60)
        deadline = time.monotonic() + timeout
        while self.job_status(job_id) in ("RUNNING", "PENDING") and time.monotonic() < deadline:
            time.sleep(1)

    def job_status(self, job_id: str) -> str:
        """``SUCCEEDED``, ``FAILED``, ``RUNNING``... as ``ray job status`` says (``UNKNOWN`` if it says nothing)."""
        done = subprocess.run([str(BIN / "ray"), "job", "status", "--address", self.dashboard, job_id],
                              env=self.env, capture_output=True, text=True, timeout=60)
        text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # the CLI colours the status
        found = re.search(r"Status for job '[^']*': (?:JobStatus\.)?([A-Z]+)", text)
        return found.group(1) if found else "UNKNOWN"
