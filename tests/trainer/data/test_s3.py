"""The loader reads s3:// corpora (moto's S3 API server on loopback) exactly as local ones."""

from __future__ import annotations

import torch
from test_packing import make_loader, take
from trainer_corpus import text_corpus

from trainer.data.shards import list_shards


def test_s3_corpus_gives_the_same_batches_as_local(tmp_path, s3):
    text_corpus(tmp_path / "c", 20, n_shards=2)
    s3.mkdir("corpora")
    s3.put(str(tmp_path / "c" / "shards"), "corpora/c/shards", recursive=True)
    assert [u.rsplit("/", 1)[-1] for u in list_shards("s3://corpora/c")] == \
        [u.rsplit("/", 1)[-1] for u in list_shards(str(tmp_path / "c"))]
    remote, local = take(make_loader("s3://corpora/c"), 4), take(make_loader(tmp_path / "c"), 4)
    assert all(torch.equal(a["tokens"], b["tokens"]) for a, b in zip(remote, local))
