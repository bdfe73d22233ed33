"""The loader reads s3:// corpora (moto's S3 API server on loopback) exactly as local ones."""

from __future__ import annotations

import pytest
import torch
from corpus import text_corpus
from test_packing import make_loader, take

from trainer.data.shards import list_shards


@pytest.fixture
def s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Fake credentials and a loopback endpoint: nothing here can reach a real AWS account.
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        monkeypatch.setenv(key, value)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield s3fs.S3FileSystem(key="testing", secret="testing",
                            client_kwargs={"endpoint_url": f"http://{host}:{port}", "region_name": "eu-west-1"})
    server.stop()


def test_s3_corpus_gives_the_same_batches_as_local(tmp_path, s3):
    text_corpus(tmp_path / "c", 20, n_shards=2)
    s3.mkdir("corpora")
    s3.put(str(tmp_path / "c" / "shards"), "corpora/c/shards", recursive=True)
    assert [u.rsplit("/", 1)[-1] for u in list_shards("s3://corpora/c")] == \
        [u.rsplit("/", 1)[-1] for u in list_shards(str(tmp_path / "c"))]
    remote, local = take(make_loader("s3://corpora/c"), 4), take(make_loader(tmp_path / "c"), 4)
    assert all(torch.equal(a["tokens"], b["tokens"]) for a, b in zip(remote, local))
