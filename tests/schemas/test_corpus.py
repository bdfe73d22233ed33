"""``schemas.corpus``: the names of a corpus's shards and files, where its root is, and its token layout."""

from __future__ import annotations

import json

import fsspec
import pytest

from schemas import TokenLayout
from schemas.corpus import (
    LAYOUT_FILE,
    check_partition,
    committed_shards,
    corpus_root,
    partition_of,
    read_token_layout,
    shard_name,
    shard_of,
)


def test_shard_names_and_the_files_of_a_shard():
    assert shard_name("web-abc", 3) == "web-abc-00003" and partition_of("web-abc-00003") == "web-abc"
    assert partition_of(shard_name("p_1", 123456)) == "p_1"
    for bad in ("Web", "a/b", "", "-x", "a.b"):
        with pytest.raises(ValueError, match="must be lower-case letters"):
            check_partition(bad)
    with pytest.raises(ValueError, match="is not a shard name"):
        partition_of("web-abc-3")
    assert [shard_of(f"p-00001{s}") for s in (".tar", ".parquet")] == ["p-00001"] * 2
    assert shard_of("p-00001.json") is None


def test_the_root_of_a_corpus_from_any_of_its_paths(tmp_path):
    fs = fsspec.filesystem("file")
    root = tmp_path / "corpus"
    (root / "shards").mkdir(parents=True)
    for given in (root, root / "shards", f"{root / 'shards'}/", root / "shards" / "p-00000.tar", root / "p-00000.tar"):
        assert corpus_root(fs, str(given)) == str(root)
    # A corpus that happens to be called "shards" is its own root when it has a shards/ folder.
    named = tmp_path / "shards"
    (named / "shards").mkdir(parents=True)
    assert corpus_root(fs, str(named)) == str(named)
    assert corpus_root(fs, str(named / "shards")) == str(named)


def test_token_layout_and_ledger_are_read_at_the_root(tmp_path):
    fs = fsspec.filesystem("file")
    root = str(tmp_path)
    assert read_token_layout(fs, root) is None and committed_shards(fs, root) is None
    layout = TokenLayout(300, 64, 16)
    (tmp_path / LAYOUT_FILE).write_text(layout.to_json())
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "p.json").write_text(json.dumps({"shards": [{"name": "p-00000"}]}))
    assert read_token_layout(fs, root) == layout and committed_shards(fs, root) == {"p-00000"}
