"""``dataengine obelics export`` on documents with stored, failed and opted-out images: URLs of usable
images only by default, failed ones kept on request, and images with their bytes that Hugging Face
``datasets`` loads from the Parquet file unchanged."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from shard_documents import make_doc, photo_bytes, write

from dataengine.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Eight documents; some with a 404 image slot, one with an image an X-Robots-Tag opted out."""
    photos = photo_bytes()
    docs = [make_doc(i, photos, n_images=i % 3, failed=1 if i % 4 == 0 else 0) for i in range(8)]
    docs[5].images[0].status, docs[5].images[0].error, docs[5].images[0].data = "failed", "optout_noai", None
    docs[5].images[0].member = None
    out = tmp_path_factory.mktemp("corpus")
    write(out, docs, maxcount=3)
    return out, docs


def positions(row: dict) -> list:
    return [("image", i) if i is not None else ("text", t) for i, t in zip(row["images"], row["texts"])]


def test_export_leaves_out_failed_and_opted_out_images(corpus, tmp_path, capsys):
    out, docs = corpus
    failed = [im for d in docs for im in d.images if im.status == "failed"]
    assert {im.error for im in failed} == {"http 404", "optout_noai"}
    assert main(["obelics", "export", str(out), str(tmp_path / "o.parquet")]) == 0
    assert f"left out: {len(failed)} failed or opted-out images" in capsys.readouterr().err
    rows = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert len(rows) == len(docs)
    for row, doc in zip(rows, docs):
        assert [i for i in row["images"] if i] == [im.url for im in doc.images if im.status == "ok"]
        assert len(row["images"]) == len(row["texts"]) == len(json.loads(row["metadata"]))

    assert main(["obelics", "export", str(out), str(tmp_path / "k.parquet"), "--keep-failed-images"]) == 0
    assert "left out" not in capsys.readouterr().err
    rows = pq.read_table(tmp_path / "k.parquet").to_pylist()
    for row, doc in zip(rows, docs):
        assert [i for i in row["images"] if i] == [im.url for im in doc.images]
        kept = [m for m in json.loads(row["metadata"]) if m]
        assert [(m["status"], m.get("error")) for m in kept] == [(im.status, im.error) for im in doc.images]


def test_export_with_image_bytes_loads_in_datasets(corpus, tmp_path, capsys):
    import datasets

    out, docs = corpus
    path = tmp_path / "b.parquet"
    assert main(["obelics", "export", str(out), str(path), "--image-bytes"]) == 0
    assert "images with their bytes" in capsys.readouterr().out
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.column_names == ["images", "metadata", "general_metadata", "texts"]
    raw = ds.cast_column("images", datasets.List(datasets.Image(decode=False)))
    for i, doc in enumerate(docs):
        ok = [im for im in doc.images if im.status == "ok"]
        row = ds[i]
        assert [im.size for im in row["images"] if im is not None] == [(im.width, im.height) for im in ok]
        assert [x["bytes"] for x in raw[i]["images"] if x is not None] == [im.data for im in ok]
        assert [t for t in row["texts"] if t is not None] == [s.text for s in doc.segments if s.kind == "text"]
        srcs = [m["src"] for m in json.loads(row["metadata"]) if m]
        assert srcs == [im.url for im in ok]
    assert main(["obelics", "export", str(out), str(path), "--image-bytes", "--keep-failed-images"]) == 2
    assert "--keep-failed-images needs image URLs" in capsys.readouterr().err
