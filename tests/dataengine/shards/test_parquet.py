"""``dataengine.shards.parquet``: the corpus's tables read through fsspec, in processes that exit cleanly.

pyarrow 26 aborted a process at exit ("terminate called without an active exception") about one
time in three when a table read by ``pq.read_table`` from a Python file object was still alive
as the interpreter shut down; ``dataengine validate`` died that way in CI. Each child below
reads every table of a corpus, keeps them, and exits; all of them must exit 0.
"""

from __future__ import annotations

import subprocess
import sys

import fsspec

from dataengine.shards.parquet import read_table
from schemas import tables

READ_ALL = """
import glob, sys
import fsspec
from dataengine.shards.parquet import read_table
fs = fsspec.filesystem("file")
kept = [read_table(fs, p) for p in sorted(glob.glob(sys.argv[1] + "/*/*.parquet"))]
print(sum(t.num_rows for t in kept))  # the tables stay alive until the interpreter shuts down
"""


def test_read_table_gives_the_tables_and_their_columns(corpus):
    out, docs, _ = corpus
    fs = fsspec.filesystem("file")
    manifests = sorted((out / "docs").glob("*.parquet"))
    full = [read_table(fs, str(p)) for p in manifests]
    assert all(t.schema.equals(tables.DOCS, check_metadata=False) for t in full)
    assert sum(t.num_rows for t in full) == len(docs)
    ids = [read_table(fs, str(p), ["id"]) for p in manifests]
    assert all(t.column_names == ["id"] for t in ids)
    assert sorted(i for t in ids for i in t.column("id").to_pylist()) == sorted(d.id for d in docs)


def test_processes_that_read_tables_exit_cleanly(corpus):
    out, _, _ = corpus
    codes = []
    for _ in range(12):
        proc = subprocess.run([sys.executable, "-c", READ_ALL, str(out)], capture_output=True, text=True,
                              timeout=60)
        codes.append((proc.returncode, proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []))
        assert int(proc.stdout) > 0
    assert all(code == 0 for code, _ in codes), codes
