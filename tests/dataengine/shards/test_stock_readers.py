"""A corpus opens unchanged in the readers users have, each given a folder or glob as it is:
``webdataset``, ``ray.data.read_webdataset``, Hugging Face ``datasets`` (the dataset card, and its
Parquet builder on each table folder), ``pyarrow.dataset`` and DuckDB. None of these tests reads
through the project's helpers; the last one checks ``read_documents``, the project's Ray Data reader."""

from __future__ import annotations

import glob
import json

import duckdb
import pyarrow.dataset as pads
import pytest
from shard_documents import same_json, written_samples

from dataengine.shards import hf_features, read_documents

OK = "ok"


def tars(out) -> list[str]:
    return sorted(glob.glob(f"{out}/shards/*.tar"))


def test_webdataset_reads_the_tars(corpus):
    import webdataset as wds

    out, docs, _ = corpus
    got = []
    for sample in wds.WebDataset(tars(out), shardshuffle=False, empty_check=False):
        got.append((sample["__key__"], {k: v for k, v in sample.items() if not k.startswith("__")}))
    assert got == written_samples(docs)


def test_ray_data_reads_the_shards_folder(corpus, ray_session):
    import ray.data

    out, docs, _ = corpus
    ds = ray.data.read_webdataset(f"{out}/shards", decoder=None)
    rows = {}
    for row in ds.iter_rows():
        # a member the sample lacks is a missing value in its column: keep the members it has
        rows[row["__key__"]] = {k: v for k, v in row.items() if not k.startswith("__") and isinstance(v, bytes)}
    assert sorted(rows.items()) == sorted(written_samples(docs))


def test_datasets_loads_the_corpus_with_no_arguments(corpus, tmp_path):
    import datasets

    out, docs, _ = corpus
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "shards/*.tar" in card and f"{len(docs)} documents" in card
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.features == hf_features(str(out))  # what a reader of s3:// data files passes
    assert {"json", "0.jpg", "0.png", "1.webp", "2.png", "tokens.npy", "__key__"} <= set(ds.features)
    assert ds.num_rows == len(docs)
    raw = ds.with_format("arrow")
    undecoded = ds.cast_column("0.jpg", datasets.Image(decode=False))
    for i, doc in enumerate(docs):
        row = ds[i]
        assert row["__key__"] == doc.id
        # the whole document JSON, every field; floats only to 10 decimal places (datasets' Json()
        # writes with pandas' ujson, double_precision=10)
        assert same_json(json.loads(raw[i].column("json")[0].as_py()), doc.to_json())
        assert same_json(row["json"], doc.to_json())
        present = {k for k, v in row.items() if v is not None and k not in ("json", "tokens.npy", "__key__", "__url__")}
        assert present == {im.member.split(".", 1)[1] for im in doc.images if im.status == OK}
        for im in doc.images:
            if im.status == OK:
                assert row[im.member.split(".", 1)[1]].size == (im.width, im.height)  # a decoded PIL image
        if "0.jpg" in present:
            assert undecoded[i]["0.jpg"]["bytes"] == doc.images[0].data
        assert row["tokens.npy"] == (None if doc.tokens is None else doc.tokens.tolist())


def test_datasets_reads_a_corpus_on_s3_as_the_readme_says(corpus, tmp_path, s3):
    import datasets

    from dataengine.shards import shard_urls

    out, docs, _ = corpus
    s3.mkdir("corpora")
    s3.put(str(out), "corpora/c", recursive=True)
    remote = "s3://corpora/c"
    ds = datasets.load_dataset("webdataset", data_files=shard_urls(remote), features=hf_features(remote),
                               storage_options=s3.storage_options, split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.features == hf_features(str(out)) and ds.num_rows == len(docs)
    assert [row["__key__"] for row in ds] == [doc.id for doc in docs]


@pytest.mark.parametrize("folder", ["docs", "images", "rejected"])
def test_datasets_parquet_builder_reads_each_table_folder(corpus, tmp_path, folder):
    import datasets

    out, docs, _ = corpus
    ds = datasets.load_dataset("parquet", data_files=f"{out}/{folder}/*.parquet", split="train",
                               cache_dir=str(tmp_path / "hf"))
    if folder == "docs":
        assert ds["id"] == [d.id for d in docs]
        assert [{s["name"]: s["value"] for s in row} for row in ds["scores"]] == [d.scores for d in docs]
    elif folder == "images":
        assert ds.num_rows == sum(len(d.images) for d in docs)
        assert sorted(ds.unique("status")) == ["failed", "ok"]
    else:
        assert ds["reason"] == ["too_short"]  # the empty table of the other partition reads as no rows
    # A lone empty table streams as no rows with its columns. (Not streamed, datasets itself refuses any
    # split of no rows: 'Instruction "train" corresponds to no data'.)
    empty = datasets.load_dataset("parquet", data_files=f"{out}/rejected/web-empty.parquet", split="train",
                                  streaming=True, cache_dir=str(tmp_path / "hf-empty"))
    assert list(empty) == [] and "reason" in empty.features


def test_pyarrow_dataset_reads_each_table_folder(corpus):
    out, docs, _ = corpus
    assert pads.dataset(f"{out}/docs", format="parquet").to_table().column("id").to_pylist() == [d.id for d in docs]
    assert pads.dataset(f"{out}/images", format="parquet").count_rows() == sum(len(d.images) for d in docs)
    assert pads.dataset(f"{out}/rejected", format="parquet").count_rows() == 1


def test_duckdb_globs_get_one_table_kind(corpus):
    out, docs, _ = corpus
    con = duckdb.connect()
    got = con.execute(f"select id, n_images_ok, image_bytes, map_from_entries(scores)['quality'] "
                      f"from read_parquet('{out}/docs/*.parquet') order by filename, \"offset\"").fetchall()
    assert got == [(d.id, sum(im.status == OK for im in d.images),
                    sum(len(im.data) for im in d.images if im.status == OK), d.scores["quality"]) for d in docs]
    n = con.execute(f"select count(*) from read_parquet('{out}/images/*.parquet')").fetchone()[0]
    assert n == sum(len(d.images) for d in docs)
    assert con.execute(f"select reason from read_parquet('{out}/rejected/*.parquet')").fetchall() == [("too_short",)]


def test_read_documents_gives_whole_documents(corpus, ray_session):
    out, docs, _ = corpus
    rows = read_documents(str(out), batch_documents=2).take_all()
    assert [r["id"] for r in rows] == [d.id for d in docs]
    for row, doc in zip(rows, docs):
        assert json.loads(row["document"]) == doc.to_json()
        assert list(row["images"]) == [im.data if im.status == OK else None for im in doc.images]
        assert (None if row["tokens"] is None else list(row["tokens"])) == \
            (None if doc.tokens is None else doc.tokens.tolist())
    assert row["shard"] == "web-part-00002"
