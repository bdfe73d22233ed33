"""The shard tests' corpus: 12 mixed documents written by ``ShardWriter``, finished as a command finishes one."""

from __future__ import annotations

import pytest
from shard_documents import mixed_docs, photo_bytes, write

from dataengine.shards import write_dataset_card, write_rejected
from schemas import Rejection


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    """Real photo bytes in JPEG, PNG, WebP and GIF."""
    return photo_bytes()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photos):
    """A corpus of 12 mixed documents in shards of 5 with its dataset card, and the documents.

    ``rejected/`` holds one partition's rejection and another partition's empty table, as runs leave them.
    """
    out = tmp_path_factory.mktemp("corpus")
    docs = mixed_docs(photos)
    infos = write(out, docs, maxcount=5)
    write_rejected(str(out), "web-part", [Rejection("x1", "https://example.org/x1", "document", "filter",
                                                    "too_short", 3.0, 50.0)])
    write_rejected(str(out), "web-empty", [])
    write_dataset_card(str(out))
    return out, docs, infos
