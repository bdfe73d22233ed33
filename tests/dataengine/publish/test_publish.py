"""The publish phase: balanced, seeded, world-size-divisible final shards of a real tokenized corpus."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from scene_documents import make_document, scene_corpus_documents  # noqa: E402

from dataengine.catalog.catalog import Catalog  # noqa: E402
from dataengine.catalog.validate import validate_corpus  # noqa: E402
from dataengine.cli import main  # noqa: E402
from dataengine.publish.plan import DocRef, PlanConfig, fingerprint, plan_shards, shard_count  # noqa: E402
from dataengine.publish.publish import PublishError, publish  # noqa: E402
from dataengine.shards import ShardReader, ShardWriter, iter_corpus, list_shards  # noqa: E402
from dataengine.stages.base import Batch  # noqa: E402
from dataengine.tokenize.stage import DocumentTokenizer  # noqa: E402
from dataengine.tokenize.vocabulary import write_vocabulary  # noqa: E402

torch.set_num_threads(1)


def _refs(n: int, seed: int, partitions: int = 3) -> list[DocRef]:
    rng = random.Random(seed)
    return [DocRef(f"d{k:04d}", f"p{k % partitions}-00000", f"p{k % partitions}", rng.randint(2, 3000))
            for k in range(n)]


@pytest.mark.parametrize("n,per,world", [(100, 7, 4), (10, 100, 2), (37, 5, 3), (8, 1, 8)])
def test_plan_by_documents_is_balanced_within_one(n, per, world):
    docs = _refs(n, 0)
    shards = plan_shards(docs, PlanConfig(world, docs_per_shard=per, seed=1))
    sizes = [len(s) for s in shards]
    assert len(shards) % world == 0 and min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert sorted(d.id for s in shards for d in s) == sorted(d.id for d in docs)  # each exactly once


@pytest.mark.parametrize("seed", range(6))
def test_plan_by_tokens_is_balanced_within_one_document(seed):
    docs = _refs(200 + 17 * seed, seed)
    world = 1 + seed % 4
    shards = plan_shards(docs, PlanConfig(world, tokens_per_shard=20_000, seed=seed))
    totals = [sum(d.n_tokens for d in s) for s in shards]
    assert len(shards) % world == 0
    assert max(totals) - min(totals) <= max(d.n_tokens for d in docs)
    assert sorted(d.id for s in shards for d in s) == sorted(d.id for d in docs)
    assert len(shards) == shard_count(sum(d.n_tokens for d in docs), 20_000, len(docs), world)


def test_plan_mixes_partitions_by_seed_and_is_reproducible():
    docs = _refs(60, 0)
    config = PlanConfig(2, docs_per_shard=10, seed=7)
    shards = plan_shards(docs, config)
    assert all(len({d.partition for d in s}) > 1 for s in shards)
    assert fingerprint(plan_shards(docs, config), config) == fingerprint(shards, config)
    other = PlanConfig(2, docs_per_shard=10, seed=8)
    assert fingerprint(plan_shards(docs, other), other) != fingerprint(shards, config)


def test_plan_refuses_what_cannot_be_balanced():
    with pytest.raises(ValueError, match="cannot fill one shard per rank"):
        plan_shards(_refs(3, 0), PlanConfig(4, docs_per_shard=1))
    with pytest.raises(ValueError, match="exactly one of"):
        PlanConfig(2)
    with pytest.raises(ValueError, match="no token count"):
        plan_shards([DocRef("a", "s", "p", None), DocRef("b", "s", "p", 5)], PlanConfig(1, tokens_per_shard=5))


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory) -> tuple[str, DocumentTokenizer]:
    """A corpus of three partitions, tokenized by the stage, with its vocabulary beside the shards."""
    from trainer.vq.model import VQConfig, VQModel
    from trainer.vq.tokenizer import ImageTokenizer

    root = tmp_path_factory.mktemp("publish")
    torch.manual_seed(0)
    ImageTokenizer(VQModel(VQConfig(codebook_size=64, channels=16))).save(root / "vq.pt")
    stage = DocumentTokenizer(text_tokenizer="byte", vq=str(root / "vq.pt"), max_grid=16)
    corpus = str(root / "corpus")
    for k, partition in enumerate(("web-a", "web-b", "web-c")):
        docs = stage(Batch(partition, scene_corpus_documents(6 + k, seed=k, tag=partition))).docs
        with ShardWriter(corpus, partition, maxcount=4, layout=stage.layout) as writer:
            for doc in docs:
                writer.write(doc)
    write_vocabulary(corpus, stage.vocabulary)
    return corpus, stage


def test_publish_by_tokens_writes_a_valid_balanced_corpus(tokenized, tmp_path):
    corpus, stage = tokenized
    final = str(tmp_path / "final")
    result = publish(corpus, final, PlanConfig(2, tokens_per_shard=1500, seed=3), progress=False)
    assert validate_corpus(final) == []
    names = list_shards(final)
    assert len(names) % 2 == 0 and names == [s.name for s in result.shards] and result.written == len(names)
    source = {d.id: d for d in iter_corpus(corpus)}
    assert sorted(d.id for d in iter_corpus(final)) == sorted(source)
    largest = max(len(d.tokens) for d in source.values())
    with Catalog(final) as cat:
        rows = cat.arrow("select shard, sum(n_tokens) t, sum(n_text_tokens) tt, sum(n_image_tokens) it, "
                         "count(*) n from docs group by 1 order by 1").to_pylist()
    assert [r["t"] for r in rows] == [s.n_tokens for s in result.shards]
    assert max(r["t"] for r in rows) - min(r["t"] for r in rows) <= largest
    assert sum(r["it"] for r in rows) == 64 * sum(im.status == "ok" for d in source.values() for im in d.images)
    for name in names:
        for doc in ShardReader.open(final, name):
            np.testing.assert_array_equal(doc.tokens, source[doc.id].tokens)  # tokens come through unchanged
    partition = {row["id"]: row["partition"] for name in list_shards(corpus)
                 for row in ShardReader.open(corpus, name).manifest().select(["id", "partition"]).to_pylist()}
    assert max(len({partition[i] for i in ShardReader.open(final, n).ids()}) for n in names) > 1  # mixed
    from trainer.data.shards import corpus_layout

    assert corpus_layout(final) == stage.layout
    plan = json.loads((tmp_path / "final" / "publish.json").read_text())
    assert plan["fingerprint"] == result.fingerprint and plan["source"] == corpus

    # validate checks the per-modality counts against the tokens, using the recorded layout
    manifest = tmp_path / "final" / "docs" / f"{names[0]}.parquet"
    table = pq.read_table(manifest)
    counts = table.column("n_image_tokens").to_pylist()
    counts[0] += 1
    pq.write_table(table.set_column(table.schema.get_field_index("n_image_tokens"), "n_image_tokens",
                                    pa.array(counts, pa.int64())), manifest)
    assert any("n_image_tokens" in p for p in validate_corpus(final))


def test_publish_reruns_skip_and_other_plans_are_refused(tokenized, tmp_path):
    corpus, _ = tokenized
    final = str(tmp_path / "final")
    first = publish(corpus, final, PlanConfig(1, docs_per_shard=5), progress=False)
    again = publish(corpus, final, PlanConfig(1, docs_per_shard=5), progress=False)
    assert again.written == 0 and again.skipped == len(first.shards) and again.fingerprint == first.fingerprint
    with pytest.raises(PublishError, match="holds another publish plan"):
        publish(corpus, final, PlanConfig(1, docs_per_shard=5, seed=1), progress=False)
    with pytest.raises(PublishError, match="source corpus itself"):
        publish(corpus, corpus, PlanConfig(1, docs_per_shard=5), progress=False)
    sizes = [s.n_docs for s in first.shards]
    assert max(sizes) - min(sizes) <= 1


def test_duplicate_ids_and_untokenized_documents_are_rejected_rows(tmp_path):
    corpus = str(tmp_path / "corpus")
    doc = make_document("/same.html", ["The same document twice."])
    for partition in ("web-a", "web-b"):
        with ShardWriter(corpus, partition) as writer:
            writer.write(doc)
            writer.write(make_document(f"/{partition}.html", [f"Only in {partition}."]))
    with pytest.raises(PublishError, match="not tokenized"):
        publish(corpus, str(tmp_path / "bytokens"), PlanConfig(1, tokens_per_shard=10), progress=False)
    final = str(tmp_path / "final")
    result = publish(corpus, final, PlanConfig(1, docs_per_shard=10), progress=False)
    assert [(r.id, r.reason) for r in result.rejected] == [(doc.id, "duplicate_id")]
    assert validate_corpus(final) == []
    with Catalog(final) as cat:
        assert cat.arrow("select reason, count(*) n from rejected group by 1").to_pylist() == [
            {"reason": "duplicate_id", "n": 1}]
        assert cat.arrow("select count(*) n, count(n_tokens) t from docs").to_pylist() == [{"n": 3, "t": 0}]


def test_publish_command(tokenized, tmp_path, capsys):
    corpus, _ = tokenized
    final = str(tmp_path / "final")
    assert main(["publish", corpus, "--out", final, "--world-size", "2", "--tokens-per-shard", "2000",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "per rank for world size 2" in out and "tokens per shard:" in out
    assert main(["validate", final]) == 0
    assert main(["publish", corpus, "--out", str(tmp_path / "x"), "--world-size", "100",
                 "--docs-per-shard", "1"]) == 2
    assert "cannot fill one shard per rank" in capsys.readouterr().err
    assert main(["publish", str(tmp_path / "nowhere"), "--out", str(tmp_path / "y"), "--world-size", "1",
                 "--docs-per-shard", "1"]) == 2
    assert capsys.readouterr().err.strip().startswith("dataengine: error: corpus not found")
