"""README.md's tour runs as written: every ``bash`` block, in order, from an empty folder to a trained model.

Blocks fenced as ``bash`` are the ones a reader can paste on this machine; ``sh`` blocks need
what a test machine lacks (the internet, a bucket, a cluster, GPUs) and are not run here. The
script runs in a scratch folder that sees the repository's ``pipelines/``, ``trainer/`` and
``.venv/`` where the README expects them, in a process group of its own that is killed at the
end, so its background server never outlives the test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess

import pytest
from repo_paths import REPO

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
PORT = 8000  # the README's


def blocks(path, lang: str) -> list[str]:
    """The bodies of ``path``'s fenced code blocks tagged ``lang``, in order."""
    return [body for tag, body in FENCE.findall(path.read_text()) if tag == lang]


def test_the_readme_fences_commands_as_bash_or_sh_only():
    tags = {tag for tag, _ in FENCE.findall((REPO / "README.md").read_text())}
    assert tags <= {"bash", "sh", "python", "yaml", ""}, tags
    assert len(blocks(REPO / "README.md", "bash")) == 1  # the tour


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_the_tour_runs_as_written(tmp_path):
    if not _port_free(PORT):
        pytest.skip(f"port {PORT}, which the tour serves the sample web on, is in use")
    for name in ("pipelines", "trainer", ".venv"):
        (tmp_path / name).symlink_to(REPO / name)
    script = "set -euo pipefail\n" + "\n".join(blocks(REPO / "README.md", "bash"))
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    log = tmp_path / "tour.log"
    with log.open("w") as sink:  # a file, not a pipe: a server left running would hold a pipe open
        proc = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=540)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the server and anything else the script left
            except ProcessLookupError:
                pass
            proc.wait()
    out = log.read_text()
    assert proc.returncode == 0, out[-4000:]
    tour = tmp_path / "tour"
    assert "OK: " in out and (tour / "report.html").stat().st_size > 10_000
    assert (tour / "obelics.parquet").is_file() and (tour / "samples.html").is_file()
    assert json.loads(out.strip().splitlines()[-1])["judge"] == "sample-web"  # trainer eval's last line
    # Nothing a reader cannot act on: Ray's token notice, deprecations, tracebacks, warnings. One line is
    # Ray Data's own: every actor pool's MapWorker gets its transformer by reference, so Ray 2.60's core
    # worker prints "has constructor arguments in the object store and max_restarts > 0" for it; the
    # driver owns those objects for the whole run, and turning restarts off to silence it would cost
    # the model stages their fault tolerance.
    quiet = "\n".join(line for line in out.splitlines() if "has constructor arguments in the object store" not in line)
    assert not re.search(r"core_worker|Token authentication|deprecated|Traceback|WARNING", quiet), out[-4000:]
