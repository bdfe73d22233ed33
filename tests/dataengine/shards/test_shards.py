"""Shard IO: the writer's tars and manifests, read back by our reader (the stock readers are in
``test_stock_readers``)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from shard_documents import encode, expected_members, make_doc, mixed_docs, write
from skimage import data as skdata

from dataengine.shards import (
    ShardReader,
    ShardWriter,
    iter_corpus,
    list_shards,
    shard_urls,
    write_rejected,
)
from dataengine.shards.layout import TMP_MARK, image_extension
from schemas import (
    Document,
    ImageCodes,
    ImageRecord,
    Rejection,
    Segment,
    SourceRef,
    TokenLayout,
    document_id,
    tables,
    validate_document,
)

# ---------------------------------------------------------------- writer and our reader


def test_round_trip(corpus):
    out, docs, infos = corpus
    assert [i.name for i in infos] == ["web-part-00000", "web-part-00001", "web-part-00002"]
    assert [i.n_docs for i in infos] == [5, 5, 2]
    read = list(iter_corpus(str(out)))
    assert [d.id for d in read] == [d.id for d in docs]
    for got, want in zip(read, docs):
        assert got.to_json() == want.to_json()
        validate_document(got.to_json())
        assert [im.data for im in got.images] == [im.data if im.status == "ok" else None for im in want.images]
        if want.tokens is None:
            assert got.tokens is None
        else:
            assert got.tokens.dtype == np.int32 and got.tokens.tolist() == want.tokens.tolist()
    # members follow the contract: KEY.json, KEY.{i}.{ext} for ok images only, KEY.tokens.npy
    doc = docs[3]
    assert [im.member for im in doc.images] == [f"{doc.id}.{k}.{image_extension(im.format)}"
                                                for k, im in enumerate(doc.images)]
    assert docs[5].images[-1].status == "failed" and docs[5].images[-1].member is None


def test_image_extension_names():
    assert image_extension("JPEG") == "jpg" and image_extension("png") == "png"
    assert image_extension("WebP") == "webp" and image_extension(None, b"\x89PNG\r\n\x1a\n...") == "png"
    with pytest.raises(ValueError):
        image_extension(None, b"not an image")


def test_manifest_rows(corpus):
    out, docs, infos = corpus
    reader = ShardReader(infos[0].tar)
    manifest = reader.manifest()
    assert manifest.schema.equals(tables.DOCS, check_metadata=False)
    rows = manifest.to_pylist()
    for row, doc in zip(rows, docs[:5]):
        ok = [im for im in doc.images if im.status == "ok"]
        assert row["id"] == doc.id and row["shard"] == "web-part-00000" and row["partition"] == "web-part"
        assert row["n_images"] == len(doc.images) and row["n_images_ok"] == len(ok)
        assert row["n_segments"] == len(doc.segments) and row["n_text"] == len(doc.images) + 1
        assert row["text_chars"] == len(doc.text)
        assert row["image_bytes"] == sum(len(im.data) for im in ok)
        assert row["n_tokens"] == (None if doc.tokens is None else len(doc.tokens))
        assert row["n_text_tokens"] is None and row["n_image_tokens"] is None  # no layout given
        assert {s["name"]: s["value"] for s in row["scores"]} == doc.scores  # {name, value} entries, no map type
        assert (row["source_kind"], row["source_uri"], row["language"]) == ("crawl", "tests", "en")
    # offsets: contiguous, each sample ends where the next begins
    assert rows[0]["offset"] == 0
    assert all(a["offset"] + a["size"] == b["offset"] for a, b in zip(rows, rows[1:]))
    images = reader.images().to_pylist()
    assert len(images) == sum(len(d.images) for d in docs[:5])
    failed = [r for r in images if r["status"] == "failed"]
    assert failed and all(r["member"] is None and r["bytes"] is None and r["error"] == "http 404"
                          for r in failed)
    ok = [r for r in images if r["status"] == "ok"]
    assert all(r["bytes"] > 0 and r["member"].startswith(f"{r['doc_id']}.{r['index']}.") for r in ok)
    assert sum(r["status"] == "ok" for r in images) == infos[0].n_images_ok
    assert infos[0].tar_bytes == os.path.getsize(infos[0].tar)
    assert infos[0].to_json() == {"name": "web-part-00000", "n_docs": 5, "tar_bytes": infos[0].tar_bytes,
                                  "n_images_ok": infos[0].n_images_ok}


def test_token_counts_with_layout(tmp_path, photos):
    layout = TokenLayout(text_vocab_size=100, codebook_size=16, max_grid=4)
    doc = make_doc(1, photos)
    doc.tokens = layout.encode([np.array([5, 6, 7]), ImageCodes(np.zeros((2, 2))),
                                np.array([8])])
    write(tmp_path, [doc], layout=layout)
    row = ShardReader(str(tmp_path / "shards" / "web-part-00000.tar")).manifest().to_pylist()[0]
    assert (row["n_tokens"], row["n_text_tokens"], row["n_image_tokens"]) == (len(doc.tokens), 4, 4)


def test_rolls_at_maxcount(tmp_path, photos):
    infos = write(tmp_path, [make_doc(i, photos, 0) for i in range(7)], maxcount=3)
    assert [i.n_docs for i in infos] == [3, 3, 1]
    assert list_shards(str(tmp_path)) == ["web-part-00000", "web-part-00001", "web-part-00002"]


def test_rolls_at_maxsize(tmp_path, photos):
    docs = [make_doc(i, photos, n_images=2) for i in range(10)]
    big = make_doc(99, photos, n_images=0)
    big.images.append(ImageRecord(index=0, url="https://example.org/big", format="png", status="ok",
                                  data=encode(skdata.astronaut(), "png", size=512)))
    big.segments.append(Segment.of_image(0))
    maxsize = 48 * 1024
    assert len(big.images[0].data) > maxsize
    infos = write(tmp_path, docs[:5] + [big] + docs[5:], maxsize=maxsize)
    assert len(infos) > 2 and sum(i.n_docs for i in infos) == 11
    for info in infos:
        assert info.tar_bytes == os.path.getsize(info.tar)
        members = ShardReader(info.tar).ids()
        if big.id in members:
            assert members == [big.id]  # too large for any shard: alone in its own
        else:
            assert info.tar_bytes <= maxsize
    assert [d.id for d in iter_corpus(str(tmp_path))] == [d.id for d in docs[:5] + [big] + docs[5:]]


def test_get_by_id_is_a_ranged_read(tmp_path, photos):
    docs = mixed_docs(photos, 8)
    (info,) = write(tmp_path, docs)
    reader = ShardReader(info.tar)
    rows = {r["id"]: r for r in reader.manifest().to_pylist()}
    # the bytes at [offset, offset+size) are the sample's members, nothing else
    raw = open(info.tar, "rb").read()
    for doc in docs:
        r = rows[doc.id]
        with tarfile.open(fileobj=io.BytesIO(raw[r["offset"]: r["offset"] + r["size"]])) as t:
            assert {m.name: t.extractfile(m).read() for m in t} == expected_members(doc)
    # wreck every byte outside one document's range: get() still works, so it never scans the tar
    target = docs[5]
    r = rows[target.id]
    wrecked = bytearray(b"\xff" * len(raw))
    wrecked[r["offset"]: r["offset"] + r["size"]] = raw[r["offset"]: r["offset"] + r["size"]]
    open(info.tar, "wb").write(bytes(wrecked))
    got = ShardReader(info.tar).get(target.id)
    assert got.to_json() == target.to_json()
    assert [im.data for im in got.images] == [im.data for im in target.images]
    with pytest.raises(KeyError):
        reader.get("0" * 24)


def test_rerun_writes_identical_bytes(tmp_path, photos):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, mixed_docs(photos), maxcount=4)
    write(b, mixed_docs(photos), maxcount=4)
    write_rejected(str(a), "web-part", [Rejection("x", "u", "text", "s", "r")])
    write_rejected(str(b), "web-part", [Rejection("x", "u", "text", "s", "r")])
    for folder in ("shards", "docs", "images", "rejected"):
        names = sorted(os.listdir(a / folder))
        assert names == sorted(os.listdir(b / folder)) and names
        for name in names:
            assert (a / folder / name).read_bytes() == (b / folder / name).read_bytes(), name
    with tarfile.open(a / "shards" / "web-part-00000.tar") as t:
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in t} == {(0, 0, 0, "", "", 0o444)}


def test_temporary_names_never_visible(tmp_path, photos):
    writer = ShardWriter(str(tmp_path), "web-part", maxcount=2)
    for doc in mixed_docs(photos, 5):
        writer.write(doc)
    for folder in ("shards", "docs", "images"):  # everything in progress is in the partition's staging folder
        assert os.listdir(tmp_path / folder) == []
    staged = os.listdir(tmp_path / ".staging" / "web-part")
    assert staged and all(TMP_MARK in n for n in staged)
    assert list_shards(str(tmp_path)) == []
    writer.close()
    names = sorted(f"{folder}/{n}" for folder in ("shards", "docs", "images") for n in os.listdir(tmp_path / folder))
    assert not (tmp_path / ".staging").exists()  # released once empty
    assert names == sorted(f"{folder}/web-part-{k:05d}{ext}" for k in range(3)
                           for folder, ext in (("shards", ".tar"), ("docs", ".parquet"), ("images", ".parquet")))
    assert writer.close() == writer.close()  # idempotent


def test_failure_inside_with_leaves_nothing(tmp_path, photos):
    with pytest.raises(RuntimeError):
        with ShardWriter(str(tmp_path), "web-part", maxcount=2) as writer:
            for doc in mixed_docs(photos, 5):
                writer.write(doc)
            raise RuntimeError("stage blew up")
    assert [os.listdir(tmp_path / folder) for folder in ("shards", "docs", "images")] == [[], [], []]
    assert not (tmp_path / ".staging").exists()


def test_bad_documents_are_refused(tmp_path, photos):
    writer = ShardWriter(str(tmp_path), "web-part")
    doc = make_doc(1, photos)
    doc.images[0].data = None
    with pytest.raises(ValueError, match="status ok but no bytes"):
        writer.write(doc)
    doc = make_doc(2, photos)
    doc.segments.append(Segment.of_image(7))
    with pytest.raises(ValueError, match="segments"):
        writer.write(doc)
    writer.write(make_doc(3, photos))
    with pytest.raises(ValueError, match="twice"):
        writer.write(make_doc(3, photos))
    with pytest.raises(ValueError, match="partition"):
        ShardWriter(str(tmp_path), "Bad.Name")
    writer.abort()
    assert os.listdir(tmp_path / "shards") == []


def test_write_rejected(tmp_path):
    empty = write_rejected(str(tmp_path), "p-empty", [])
    rows = write_rejected(str(tmp_path), "p-full", [
        Rejection("a", "https://a", "document", "lang", "language", 0.2, 0.5),
        Rejection("b", "https://b", "image", "images", "fetch_failed", image_index=2, partition="p-full")])
    assert pq.read_table(empty).num_rows == 0
    assert pq.read_table(empty).schema.equals(tables.REJECTED, check_metadata=False)
    assert sorted(os.listdir(tmp_path / "rejected")) == ["p-empty.parquet", "p-full.parquet"]
    got = duckdb.sql(f"select id, level, reason, value, image_index, partition from read_parquet("
                     f"['{empty}', '{rows}']) order by id").fetchall()
    assert got == [("a", "document", "language", 0.2, None, "p-full"),
                   ("b", "image", "fetch_failed", None, 2, "p-full")]


def test_memory_filesystem(photos):
    """Any fsspec URL works (``memory://`` stands in for an object store: rename = copy + delete)."""
    import fsspec

    url = "memory://dataengine-test-corpus"
    fs = fsspec.filesystem("memory")
    if fs.exists("/dataengine-test-corpus"):
        fs.rm("/dataengine-test-corpus", recursive=True)
    docs = mixed_docs(photos, 6)
    write(url, docs, maxcount=4)
    assert list_shards(url) == ["web-part-00000", "web-part-00001"]
    assert shard_urls(url)[0] == "memory:///dataengine-test-corpus/shards/web-part-00000.tar"
    assert [d.id for d in iter_corpus(url)] == [d.id for d in docs]
    reader = ShardReader(shard_urls(url)[1])
    assert reader.get(docs[5].id).to_json() == docs[5].to_json()
    assert not [p for p in fs.find("/dataengine-test-corpus") if TMP_MARK in p]


# ---------------------------------------------------------------- a real WebDataset shard


def test_real_cc12m_pairs_round_trip(fixtures, tmp_path):
    """The 32 real CC12M pairs (img2dataset layout) become pair documents, and read back unchanged."""
    import webdataset as wds

    pairs = list(wds.WebDataset(str(fixtures / "pairs" / "cc12m-train-0000.tar"), shardshuffle=False,
                                empty_check=False))
    assert len(pairs) == 32
    docs = []
    for sample in pairs:
        meta = json.loads(sample["json"])
        caption = sample["txt"].decode("utf-8")
        url = meta.get("url") or f"cc12m://{sample['__key__']}"
        doc = Document(id=document_id(url, "cc12m-train-0000.tar"), url=url,
                       source=SourceRef("urls", "cc12m-train-0000.tar"))
        img = Image.open(io.BytesIO(sample["jpg"]))
        doc.images.append(ImageRecord(index=0, url=url, caption=caption, width=img.width, height=img.height,
                                      format=img.format, sha256=hashlib.sha256(sample["jpg"]).hexdigest(),
                                      status="ok", data=sample["jpg"]))
        doc.segments += [Segment.of_image(0), Segment.of_text(caption)]
        docs.append(doc)
    infos = write(tmp_path, docs, partition="cc12m", maxcount=10)
    assert [i.n_docs for i in infos] == [10, 10, 10, 2]
    back = list(iter_corpus(str(tmp_path)))
    assert [d.images[0].data for d in back] == [s["jpg"] for s in pairs]
    assert [d.text for d in back] == [s["txt"].decode() for s in pairs]
    assert [s["__key__"] for s in wds.WebDataset(shard_urls(str(tmp_path)), shardshuffle=False)] == \
        [d.id for d in docs]
    reader = ShardReader(infos[2].tar)
    assert reader.get(docs[25].id).images[0].data == pairs[25]["jpg"]


def test_refused_document_leaves_the_shard_intact(tmp_path, photos):
    """A document the writer refuses writes nothing: the caller can reject it and carry on."""
    writer = ShardWriter(str(tmp_path), "web-part")
    good = [make_doc(i, photos, 2) for i in range(3)]
    writer.write(good[0])
    bad = make_doc(7, photos)
    bad.segments.append(Segment.of_image(5))
    with pytest.raises(ValueError):
        writer.write(bad)
    for doc in good[1:]:
        writer.write(doc)
    (info,) = writer.close()
    assert info.n_docs == 3 and [d.id for d in ShardReader(info.tar)] == [d.id for d in good]
