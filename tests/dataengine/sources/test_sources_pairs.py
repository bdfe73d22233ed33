"""Pair sources: img2dataset-style URL lists fetched from a loopback web, and img2dataset output shards.

The URL list points at the images of a generated sample web served on loopback (its
ground truth gives each image's caption); the shards are a real CC12M shard written by
img2dataset.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dataengine.runner.config import ConfigError, parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.sampleweb.generate import GROUND_TRUTH, SampleWebConfig, generate_site
from dataengine.sampleweb.server import SampleWebServer
from dataengine.shards import iter_corpus
from dataengine.sources.img2dataset import Img2DatasetSource
from dataengine.sources.urls import UrlListSource
from schemas import Document, Rejection, document_id

CC12M = Path("pairs") / "cc12m-train-0000.tar"
# a 404, bytes that are no image, an X-Robots-Tag: noai image, images under robots.txt's Disallow: /private/
FAILING = ("broken", "corrupt", "optout", "robots")


@pytest.fixture(scope="module")
def sample_web(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    generate_site(site, SampleWebConfig(pages=12, seed=3))
    with SampleWebServer(site) as server:
        yield site, server.url


def image_rows(site: Path, base_url: str) -> list[dict]:
    """One row per distinct content image (with its true caption) and per failing image."""
    rows, seen = [], set()
    for line in (site / GROUND_TRUTH).read_text().splitlines():
        item = json.loads(line)
        if item["kind"] != "image" or item["path"] in seen or item["label"] not in ("content", *FAILING):
            continue
        seen.add(item["path"])
        label = "robots" if item["path"].startswith("/private/") else item["label"]
        rows.append({"image_url": base_url + item["path"].lstrip("/"), "alt": item["caption"] or "no caption",
                     "label": label, "path": item["path"]})
    return rows


BAD_ROWS = [("", "an empty url"), ("ftp://127.0.0.1/x.png", "not http"), ("http://127.0.0.1/a.png", "")]


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_url", "alt"])
        for row in rows:
            writer.writerow([row["image_url"], row["alt"]])
        for url, caption in BAD_ROWS:
            writer.writerow([url, caption])
        f.write("http://127.0.0.1/b.png,one,field too many\n")


def test_url_list_through_fetch_images(ray_session, sample_web, tmp_path):
    site, base_url = sample_web
    rows = image_rows(site, base_url)
    assert Counter(r["label"] for r in rows)["content"] > 10 and {r["label"] for r in rows} >= set(FAILING)
    listing = tmp_path / "pairs.csv"
    write_csv(listing, rows)
    config = parse_pipeline({
        "name": "pairs", "source": {"kind": "urls", "paths": str(listing), "url_col": "image_url",
                                    "caption_col": "alt", "rows_per_partition": 25},
        "stages": [{"name": "fetch_images", "params": {"allow_private": True, "timeout": 5}}]})
    result = run_pipeline(config, str(tmp_path / "corpus"))
    n_rows = len(rows) + len(BAD_ROWS) + 1
    assert result.partitions_total == -(-n_rows // 25) == 2 and result.documents == len(rows)

    source_reasons = {reason: n for (stage, _, reason), n in result.rejected.items() if stage == "source:urls"}
    assert source_reasons == {"empty_url": 1, "bad_url": 1, "empty_caption": 1, "bad_row": 1}
    image_failures = sum(n for (stage, level, _), n in result.rejected.items()
                         if stage == "fetch_images" and level == "image")
    assert image_failures == sum(r["label"] in FAILING for r in rows), result.rejected

    docs = {d.url: d for d in iter_corpus(str(tmp_path / "corpus"))}
    for i, row in enumerate(rows):
        doc = docs[row["image_url"]]
        assert doc.id == document_id(row["image_url"], str(listing), i) and doc.source.kind == "urls"
        assert [s.kind for s in doc.segments] == ["image", "text"] and doc.segments[1].text == row["alt"]
        [image] = doc.images
        if row["label"] in FAILING:
            assert image.status == "failed" and image.error
        else:
            assert image.status == "ok" and image.data
            with Image.open(site / row["path"].lstrip("/")) as served:
                assert (image.width, image.height) == served.size


def rows_of(source: UrlListSource) -> list[Document | Rejection]:
    return [item for p in source.partitions() for item in source.read(p)]


def test_url_list_formats_read_alike(tmp_path):
    pairs = [(f"http://127.0.0.1:9/img/{i}.jpg", f"caption {i}") for i in range(7)]
    table = pa.table({"link": [u for u, _ in pairs], "text": [c for _, c in pairs], "extra": list(range(7))})
    pq.write_table(table, tmp_path / "list.parquet", row_group_size=3)
    with gzip.open(tmp_path / "list.jsonl.gz", "wt") as f:
        f.writelines(json.dumps({"link": u, "text": c}) + "\n" for u, c in pairs)
    (tmp_path / "list.tsv").write_text("link\ttext\n" + "".join(f"{u}\t{c}\n" for u, c in pairs))
    expected = [(u, c) for u, c in pairs]
    for name in ("list.parquet", "list.jsonl.gz", "list.tsv"):
        source = UrlListSource(paths=str(tmp_path / name), url_col="link", caption_col="text", rows_per_partition=2)
        assert len(source.partitions()) == 4, name
        docs = rows_of(source)
        assert [(d.url, d.segments[1].text) for d in docs] == expected, name
        assert [d.source.offset for d in docs] == list(range(7)) and all(d.images[0].status == "pending" for d in docs)
    (tmp_path / "urls.txt").write_text("".join(u + "\n" for u, _ in pairs))
    docs = rows_of(UrlListSource(paths=str(tmp_path / "urls.txt"), caption_col=None))
    assert [d.url for d in docs] == [u for u, _ in pairs] and all(len(d.segments) == 1 for d in docs)


def test_url_list_bad_rows_and_config_errors(tmp_path):
    (tmp_path / "list.jsonl").write_text('{"url": "http://127.0.0.1/1.jpg", "caption": "one"}\n'
                                         'not json\n[1, 2]\n{"url": null, "caption": "x"}\n'
                                         '{"url": 7, "caption": "x"}\n{"caption": "no url key"}\n')
    items = rows_of(UrlListSource(paths=str(tmp_path / "list.jsonl")))
    assert isinstance(items[0], Document)
    assert [r.reason for r in items[1:]] == ["bad_row", "bad_row", "empty_url", "bad_url", "empty_url"]
    assert all(f"list.jsonl row {i}" in r.detail for i, r in enumerate(items) if i)

    (tmp_path / "list.csv").write_text("URL,TEXT\nhttp://127.0.0.1/1.jpg,one\n")
    with pytest.raises(ConfigError, match=r"list.csv has no column 'url' \(url_col\); columns found: URL, TEXT"):
        UrlListSource(paths=str(tmp_path / "list.csv")).partitions()
    with pytest.raises(ConfigError, match=r"no column 'caption' \(caption_col\).*caption_col: null"):
        UrlListSource(paths=str(tmp_path / "list.csv"), url_col="URL").partitions()
    with pytest.raises(ConfigError, match="cannot tell the format"):
        (tmp_path / "list.dat").write_text("x")
        UrlListSource(paths=str(tmp_path / "list.dat")).partitions()


def cc12m_members(path: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for info in tar.getmembers():
            key, ext = info.name.split(".", 1)
            samples.setdefault(key, {})[ext] = tar.extractfile(info).read()
    return samples


def test_img2dataset_shards_through_the_pipeline(ray_session, fixtures, tmp_path):
    config = parse_pipeline({"name": "cc12m", "source": {"kind": "img2dataset", "paths": str(fixtures / CC12M)}})
    result = run_pipeline(config, str(tmp_path / "corpus"))
    assert result.documents == 32 and not result.rejected
    samples = cc12m_members(fixtures / CC12M)
    by_url = {json.loads(s["json"])["url"]: s for s in samples.values()}
    docs = list(iter_corpus(str(tmp_path / "corpus")))
    assert sorted(d.url for d in docs) == sorted(by_url)
    for doc in docs:
        sample = by_url[doc.url]
        meta = json.loads(sample["json"])
        [image] = doc.images
        assert doc.url == meta["url"] and image.url == meta["url"] and doc.source.kind == "urls"
        assert doc.segments[1].text == sample["txt"].decode().strip()
        assert image.status == "ok" and image.data == sample["jpg"]  # the bytes as img2dataset wrote them
        assert (image.width, image.height) == (meta["width"], meta["height"])
        assert image.sha256 == hashlib.sha256(sample["jpg"]).hexdigest()


def test_img2dataset_bad_samples_and_cut_tar(fixtures, tmp_path):
    samples = cc12m_members(fixtures / CC12M)
    keys = sorted(samples)[:4]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for n, key in enumerate(keys):
            members = dict(samples[key])
            if n == 1:
                del members["jpg"]
            if n == 2:
                members["jpg"] = members["jpg"][:200]  # a truncated download
            if n == 3:
                members["txt"] = b"  "
                members["json"] = json.dumps({**json.loads(members["json"]), "caption": ""}).encode()
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    (tmp_path / "bad.tar").write_bytes(buf.getvalue())
    data = (fixtures / CC12M).read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])

    source = Img2DatasetSource(paths=str(tmp_path / "*.tar"))
    bad, cut = source.partitions()
    assert [getattr(i, "reason", "ok") for i in source.read(bad)] == ["ok", "no_image", "not_an_image",
                                                                      "empty_caption"]
    items = list(source.read(cut))
    assert 5 < sum(isinstance(i, Document) for i in items) < 32
    assert items[-1].reason == "tar_unreadable" and "cut.tar" in items[-1].detail


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def hostile_tar(path: Path) -> None:
    """Samples 000 and 009 are sound; every one between carries a member that must not be read."""
    image, caption = jpeg(), b"a red square"
    members = [
        regular("000.jpg", image), regular("000.txt", caption),
        special("001.jpg", tarfile.SYMTYPE, "/etc/passwd"), special("001.txt", tarfile.SYMTYPE, "../../secret"),
        special("002.jpg", tarfile.LNKTYPE, "000.jpg"), regular("002.txt", caption),
        special("003.jpg", tarfile.CHRTYPE), special("003.txt", tarfile.BLKTYPE),
        special("004.jpg", tarfile.FIFOTYPE), regular("004.txt", caption),
        special("005.jpg", tarfile.DIRTYPE),
        regular("../006.jpg", image), regular("../006.txt", caption),
        regular("/tmp/007.jpg", image), regular("/tmp/007.txt", caption),
        regular("008.jpg", image), special("008.txt", tarfile.SYMTYPE, "000.txt"),
        special("folder", tarfile.DIRTYPE),  # a folder entry, as `tar cf` writes: no sample, no row
        special("README", tarfile.SYMTYPE, "/etc/shadow"),  # no sample either, but a link: a row
        regular("009.jpg", image), regular("009.txt", caption),
    ]
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def test_img2dataset_unsafe_members_are_rows_never_followed(tmp_path):
    hostile_tar(tmp_path / "hostile.tar")
    source = Img2DatasetSource(paths=str(tmp_path / "hostile.tar"))
    [partition] = source.partitions()
    items = list(source.read(partition))
    assert [getattr(i, "reason", "ok") for i in items] == ["ok"] + ["unsafe_member"] * 9 + ["ok"]
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.segments[1].text for d in docs] == ["a red square"] * 2
    details = [i.detail for i in items if isinstance(i, Rejection)]
    for detail, words in zip(details, [("001.jpg", "symlink"), ("002.jpg", "hard link"),
                                       ("003.jpg", "character device"), ("004.jpg", "fifo"),
                                       ("005.jpg", "directory"), ("../006.jpg", "outside"),
                                       ("/tmp/007.jpg", "outside"), ("008.txt", "symlink"),
                                       ("README", "symlink")]):
        assert "hostile.tar" in detail and all(w in detail for w in words), detail
