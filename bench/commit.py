"""Commit cost against corpus size: one partition's commit into corpora of 1k and 10k partitions.

A partition's commit (the runner's last step: clear what an earlier attempt left, write its
shards and rejected rows, record it in the ledger) must cost the same however many
partitions the corpus already holds; a commit that lists ``shards/`` slows a large crawl
down as it grows. The corpora are built by copying one real committed partition (three
documents written by ``ShardWriter``) under new names with ledger entries, so building them
is cheap; then ``--commits`` new partitions are committed into each, best of three rounds.

The last line is ``commit_ms_1k=.. commit_ms_10k=.. ratio_10k_vs_1k=..``: near 1.0 means
the cost does not grow with the corpus.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import tempfile
import time
from pathlib import Path

from dataengine.runner.config import SinkConfig
from dataengine.runner.pipeline import _commit_partition
from dataengine.shards import ShardWriter
from dataengine.stages.base import Batch
from schemas import Document, Segment, SourceRef, document_id


def _docs(partition: str) -> list[Document]:
    docs = []
    for i in range(3):
        url = f"https://{partition}.example.org/{i}"
        docs.append(Document(document_id(url, partition), url, SourceRef("warc", f"{partition}.warc.gz", i),
                             segments=[Segment.of_text(f"Paragraph {i} of {partition}, long enough to keep.")]))
    return docs


def build_corpus(root: Path, n: int) -> None:
    """A corpus of ``n`` committed partitions of one small shard each (copies of one real shard)."""
    with ShardWriter(str(root), "seed") as writer:
        for doc in _docs("seed"):
            writer.write(doc)
    (info,) = writer.close()
    ledger = root / "ledger"
    ledger.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        name = f"old-{k:06d}-00000"
        for folder, ext in (("shards", ".tar"), ("docs", ".parquet"), ("images", ".parquet")):
            shutil.copyfile(root / folder / f"seed-00000{ext}", root / folder / f"{name}{ext}")
        (ledger / f"old-{k:06d}.json").write_text(json.dumps({"partition": f"old-{k:06d}", "n_docs": 3,
                                                              "shards": [{**info.to_json(), "name": name}]}))


def commit_ms(root: Path, commits: int, tag: str) -> float:
    """Milliseconds per commit of ``commits`` new partitions into ``root``."""
    sink = SinkConfig()
    rows = []
    for k in range(commits):
        partition = f"new-{tag}-{k:04d}"
        rows.append({"batch": pickle.dumps(Batch(partition, docs=_docs(partition)))})
    start = time.perf_counter()
    for row in rows:
        _commit_partition(row, str(root), sink, "bench")
    return (time.perf_counter() - start) / commits * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=50, help="partitions committed per round (default 50)")
    args = parser.parse_args()
    figures = {}
    for n in (1000, 10000):
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-commit-{n}-"))
        try:
            build_corpus(tmp, n)
            figures[n] = min(commit_ms(tmp, args.commits, f"r{r}") for r in range(3))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"{n} partitions: {figures[n]:.2f} ms per commit")
    print(f"commit_ms_1k={figures[1000]:.2f} commit_ms_10k={figures[10000]:.2f} "
          f"ratio_10k_vs_1k={figures[10000] / figures[1000]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
