"""Shard IO: the writer's tars and manifests, read back by our reader and by the readers users have:
``webdataset``, ``ray.data.read_webdataset``, Hugging Face ``datasets`` and DuckDB."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tarfile

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data as skdata

from dataengine.shards import (
    ShardReader,
    ShardWriter,
    hf_features,
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

FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}


def encode(array: np.ndarray, fmt: str, size: int = 96) -> bytes:
    """Real image bytes: a scikit-image photo, shrunk, in ``fmt``."""
    image = Image.fromarray(array).convert("RGB")
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, format=FORMATS[fmt])
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    arrays = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket(), skdata.camera()]
    return [encode(a, fmt) for a, fmt in zip(arrays, ["jpeg", "png", "webp", "jpeg", "png"])] + \
        [encode(skdata.coffee(), "gif")]


def make_doc(i: int, photos: list[bytes], n_images: int = 1, failed: int = 0, tokens: bool = False,
             source: str = "crawl") -> Document:
    """Document ``i`` with text, ``n_images`` ok images (cycling through real photos), ``failed`` failed slots."""
    url = f"https://example.org/page/{i}"
    doc = Document(id=document_id(url, "tests"), url=url, source=SourceRef(source, "tests", offset=i),
                   language="en", title=f"Page {i}", scores={"quality": 0.5 + i / 100})
    doc.segments.append(Segment.of_text(f"Paragraph one of page {i}.", "p"))
    for k in range(n_images + failed):
        if k < n_images:
            data = photos[(i + k) % len(photos)]
            fmt = Image.open(io.BytesIO(data)).format.lower()
            img = Image.open(io.BytesIO(data))
            doc.images.append(ImageRecord(index=k, url=f"{url}/img{k}", alt=f"photo {k}", width=img.width,
                                          height=img.height, format=fmt,
                                          sha256=hashlib.sha256(data).hexdigest(), scores={"clip": 0.25},
                                          status="ok", data=data))
        else:
            doc.images.append(ImageRecord(index=k, url=f"{url}/broken{k}", status="failed", error="http 404"))
        doc.segments.append(Segment.of_image(k))
        doc.segments.append(Segment.of_text(f"After image {k}.", "p"))
    if tokens:
        doc.tokens = np.arange(5 + i, dtype=np.int32)
    return doc


def mixed_docs(photos: list[bytes], n: int = 12) -> list[Document]:
    """Documents whose member sets differ: 0..3 images, jpg/png/webp/gif, failed slots, some with tokens."""
    return [make_doc(i, photos, n_images=i % 4, failed=1 if i % 5 == 0 else 0, tokens=i % 3 == 0)
            for i in range(n)]


def expected_members(doc: Document) -> dict[str, bytes]:
    """What the sample of ``doc`` must hold, member name -> bytes (after the writer set the members)."""
    out = {f"{doc.id}.json": json.dumps(doc.to_json(), ensure_ascii=False, separators=(",", ":")).encode()}
    for image in doc.images:
        if image.status == "ok":
            out[image.member] = image.data
    if doc.tokens is not None:
        buf = io.BytesIO()
        np.save(buf, doc.tokens.astype("<i4"))
        out[f"{doc.id}.tokens.npy"] = buf.getvalue()
    return out


def write(out: str, docs: list[Document], partition: str = "web-part", **kw) -> list:
    with ShardWriter(str(out), partition, **kw) as writer:
        for doc in docs:
            writer.write(doc)
    return writer.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photos):
    """A corpus of 12 mixed documents in shards of 5, and the documents."""
    out = tmp_path_factory.mktemp("corpus")
    docs = mixed_docs(photos)
    infos = write(out, docs, maxcount=5)
    write_rejected(str(out), "web-part", [Rejection("x1", "https://example.org/x1", "document", "filter",
                                                    "too_short", 3.0, 50.0)])
    return out, docs, infos


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


# ---------------------------------------------------------------- the readers users have


def written_samples(docs: list[Document]) -> list[tuple[str, dict[str, bytes]]]:
    return [(d.id, {name.split(".", 1)[1]: data for name, data in expected_members(d).items()}) for d in docs]


def test_read_by_webdataset(corpus):
    import webdataset as wds

    out, docs, _ = corpus
    got = []
    for sample in wds.WebDataset(shard_urls(str(out)), shardshuffle=False, empty_check=False):
        members = {k: v for k, v in sample.items() if not k.startswith("__")}
        got.append((sample["__key__"], members))
    assert got == written_samples(docs)


def test_read_by_ray_data(corpus, ray_session):
    import ray.data

    out, docs, _ = corpus
    ds = ray.data.read_webdataset(shard_urls(str(out)), decoder=None, override_num_blocks=3)
    rows = {}
    for row in ds.iter_rows():
        # absent members come back as NaN/None: keep only the members the sample has
        rows[row["__key__"]] = {k: v for k, v in row.items() if not k.startswith("__") and isinstance(v, bytes)}
    assert sorted(rows.items()) == sorted(written_samples(docs))


def same_json(a, b) -> bool:
    """Equal JSON values, floats compared to 1e-9 (what survives datasets' Json() feature)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


def test_read_by_hf_datasets(corpus, tmp_path):
    import datasets

    out, docs, _ = corpus
    features = hf_features(str(out))
    assert {"json", "0.jpg", "0.png", "1.webp", "2.png", "tokens.npy", "__key__"} <= set(features)
    ds = datasets.load_dataset("webdataset", data_files=shard_urls(str(out)), split="train", features=features,
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(docs)
    raw = ds.with_format("arrow")
    images = ds.cast_column("0.jpg", datasets.Image(decode=False))
    for i, doc in enumerate(docs):
        row = ds[i]
        assert row["__key__"] == doc.id
        # the whole document JSON, every field; floats only to 10 decimal places (datasets' Json()
        # writes with pandas' ujson, double_precision=10)
        assert same_json(json.loads(raw[i].column("json")[0].as_py()), doc.to_json())
        assert same_json(row["json"], doc.to_json())
        present = {k for k, v in row.items() if v is not None and k not in ("json", "tokens.npy", "__key__", "__url__")}
        assert present == {im.member.split(".", 1)[1] for im in doc.images if im.status == "ok"}
        for im in doc.images:
            if im.status == "ok":
                assert row[im.member.split(".", 1)[1]].size == (im.width, im.height)  # decoded PIL image
        if "0.jpg" in present:
            assert images[i]["0.jpg"]["bytes"] == doc.images[0].data
        assert row["tokens.npy"] == (None if doc.tokens is None else doc.tokens.tolist())


def test_read_manifests_with_duckdb(corpus):
    out, docs, _ = corpus
    manifests = [f"{out}/docs/{n}.parquet" for n in list_shards(str(out))]
    con = duckdb.connect()
    got = con.execute("select id, n_images_ok, image_bytes from read_parquet(?) order by shard, \"offset\"",
                      [manifests]).fetchall()
    assert got == [(d.id, sum(im.status == "ok" for im in d.images),
                    sum(len(im.data) for im in d.images if im.status == "ok")) for d in docs]
    n = con.execute(f"select count(*) from read_parquet('{out}/images/*.parquet')").fetchone()[0]
    assert n == sum(len(d.images) for d in docs)


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
