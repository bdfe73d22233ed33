"""The dedup phase on real inputs: the fixture photos (byte-identical copies, a near-duplicate
pair), text extracted from the fixture web pages (near duplicates made by small edits), URL
recaptures, boilerplate paragraphs; in place, to ``--out``, after an interrupted commit, and
end to end on the sample web over loopback with Ray.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from repo_paths import REPO

from dataengine.catalog.catalog import Catalog
from dataengine.catalog.validate import validate_corpus
from dataengine.dedup import DedupConfig, load_config, run_dedup
from dataengine.dedup.commit import mark_ready, staging_root
from dataengine.dedup.config import DedupConfigError
from dataengine.dedup.decide import decide
from dataengine.dedup.minhash import MinHasher, jaccard_estimate, normalize
from dataengine.dedup.rewrite import rewrite_partition, thumbnail_path
from dataengine.dedup.signatures import shard_signatures
from dataengine.extract import extract_page
from dataengine.shards import ShardWriter, iter_corpus, list_shards, shard_urls, write_rejected
from dataengine.shards.ledger import Ledger
from schemas import Document, ImageRecord, Rejection, Segment, SourceRef, document_id

PAGES = ["creativecommons.org.html", "en.wikipedia.org.tsne.html", "knowtechie.com.rally.html",
         "mercurynews.com.2023.01.16.letters-1119.html", "nature.com.telescope.html",
         "luxuriousmagazine.com.polo.html", "iloveponysmag.com.barbour.html", "befifty.montauk.html"]
BOILERPLATE = "Subscribe to our newsletter and get the best stories of the week in your inbox, every Friday."


def page_texts(fixtures: Path, name: str) -> list[str]:
    page = extract_page((fixtures / "html" / name).read_bytes(), f"https://{name}/")
    return [s.text for s in page.segments if s.kind == "text" and s.text]


def make_doc(url: str, texts: list[str], images: list[tuple[str, bytes]] = (), fetch_time: str | None = None,
             offset: int | None = None) -> Document:
    doc = Document(document_id(url, "test://fixtures", offset), url,
                   SourceRef("crawl", "test://fixtures", offset=offset, fetch_time=fetch_time))
    doc.segments = [Segment.of_text(t) for t in texts]
    for index, (image_url, data) in enumerate(images):
        with Image.open(io.BytesIO(data)) as im:
            size, fmt = im.size, im.format.lower()
        doc.images.append(ImageRecord(index, image_url, width=size[0], height=size[1], format=fmt, status="ok",
                                      sha256=hashlib.sha256(data).hexdigest(), data=data))
        doc.segments.append(Segment.of_image(index))
    return doc


def write_partition(corpus: Path, partition: str, docs: list[Document], earlier: list[Rejection]) -> None:
    with ShardWriter(str(corpus), partition, maxcount=6) as writer:
        for doc in docs:
            writer.write(doc)
    shards = writer.close()
    write_rejected(str(corpus), partition, earlier)
    Ledger(str(corpus)).record(partition, {"run_id": "test-run", "n_docs": len(docs), "n_rejected": len(earlier),
                                           "shards": [s.to_json() for s in shards]})


@pytest.fixture
def corpus(fixtures: Path, tmp_path: Path) -> Path:
    """Two partitions of real photos and real page text, with every kind of duplicate across them."""
    photos = {p.name: p.read_bytes() for p in sorted((fixtures / "photos").iterdir())}
    texts = {name: page_texts(fixtures, name) for name in PAGES}

    def photo(name: str, extra: list[str] = ()) -> Document:
        return make_doc(f"https://photos.example/{name}.html", [f"Photo {name} from our archive.", *extra],
                        [(f"https://photos.example/img/{name}", photos[name])])

    boiler = [BOILERPLATE]
    a = [photo("img1.png", boiler), photo("img2.jpg", boiler), photo("img3.jpg"), photo("img_pair_1.jpg"),
         photo("cat.jpg", boiler), photo("blip.jpg"), photo("img9.jpg")]
    a += [make_doc(f"https://{n}/", texts[n]) for n in PAGES[:4]]
    b = [photo(n) for n in ("img4.png", "img5.jpg", "img6.jpg", "img7.jpg", "img_pair_2.jpg", "img10.jpg")]
    b += [make_doc(f"https://{n}/", texts[n]) for n in PAGES[4:6]]
    # two documents of another host carry the same paragraph: below a limit of 3, it stays
    b += [make_doc(f"https://news.example/{n}", texts[n] + boiler) for n in PAGES[6:]]
    # a near duplicate: the same page elsewhere with its last paragraph gone and one word changed
    edited = texts[PAGES[1]][:-1]
    edited[3] = edited[3].replace(" the ", " a ", 1)
    b.append(make_doc("https://mirror.example/tsne", edited))
    # the same URL captured twice: the newer capture stays
    b.append(make_doc("https://news.example/daily", texts[PAGES[2]][:5] + ["Old edition."],
                      fetch_time="2024-01-01T00:00:00+00:00", offset=1))
    b.append(make_doc("https://news.example/daily", texts[PAGES[2]][:5] + ["New edition."],
                      fetch_time="2024-06-01T00:00:00+00:00", offset=2))
    root = tmp_path / "corpus"
    earlier = Rejection("x" * 24, "https://gone.example/", "document", "text_quality", "word_count_low", 3, 10)
    write_partition(root, "part-a", a, [earlier])
    write_partition(root, "part-b", b, [])
    assert validate_corpus(str(root)) == []
    return root


def dedup_rows(corpus: Path) -> list[dict]:
    with Catalog(str(corpus)) as cat:
        return cat.arrow("select * from rejected where stage = 'dedup' order by reason, url, image_index").to_pylist()


def urls_of(rows: list[dict], reason: str) -> list[str]:
    return sorted(r["url"] for r in rows if r["reason"] == reason)


def test_dedup_in_place_finds_every_kind(corpus: Path):
    before = {d.id: d for d in iter_corpus(str(corpus))}
    result = run_dedup(str(corpus), DedupConfig(paragraph_min_docs=3), executor="local")
    assert validate_corpus(str(corpus)) == []
    rows = dedup_rows(corpus)
    by_id = {doc_id: doc for doc_id, doc in before.items()}

    # byte-identical copies: img4-img7 repeat img1-img3; the first by URL of each stays
    assert urls_of(rows, "duplicate_image_sha256") == [f"https://photos.example/img/{n}" for n in
                                                       ("img4.png", "img5.jpg", "img6.jpg", "img7.jpg")]
    assert {r["detail"].split(" (")[1] for r in rows if r["reason"] == "duplicate_image_sha256"} == {
        f"https://photos.example/img/{n})" for n in ("img1.png", "img2.jpg", "img3.jpg")}
    # the near-duplicate pair, by perceptual hash, and nothing else among the photos
    near = [r for r in rows if r["reason"] == "near_duplicate_image"]
    assert [r["url"] for r in near] == ["https://photos.example/img/img_pair_2.jpg"]
    assert near[0]["value"] <= near[0]["threshold"] and "img_pair_1.jpg" in near[0]["detail"]
    # the edited mirror of the tsne page goes, the longer original stays
    docs = [r for r in rows if r["reason"] == "near_duplicate_document"]
    assert [r["url"] for r in docs] == ["https://mirror.example/tsne"]
    assert docs[0]["value"] >= 0.8 and by_id[docs[0]["detail"].split()[1]].url == f"https://{PAGES[1]}/"
    # the older capture of the same URL goes, naming the newer one
    urls = [r for r in rows if r["reason"] == "duplicate_url"]
    assert len(urls) == 1 and before[urls[0]["id"]].source.fetch_time.startswith("2024-01")
    assert before[urls[0]["detail"].split()[1]].source.fetch_time.startswith("2024-06")
    # the boilerplate paragraph: gone from the three photo pages, kept on the two news.example pages
    paragraphs = [r for r in rows if r["reason"] == "repeated_paragraph"]
    assert sorted(r["url"] for r in paragraphs) == sorted(f"https://photos.example/{n}.html"
                                                          for n in ("img1.png", "img2.jpg", "cat.jpg"))
    assert all(r["level"] == "text" and BOILERPLATE in r["detail"] for r in paragraphs)

    after = {d.id: d for d in iter_corpus(str(corpus))}
    assert set(before) - set(after) == {docs[0]["id"], urls[0]["id"]}
    assert sum(BOILERPLATE in d.text for d in after.values()) == 2
    dropped = {(r["id"], r["image_index"]) for r in rows if r["level"] == "image"}
    for doc in after.values():
        for image in doc.images:
            assert (image.status == "failed") == ((doc.id, image.index) in dropped)
            if image.status == "ok":
                assert image.phash and len(image.phash) == 16  # the phase fills the pHash it computed
    assert result.documents_in == len(before) and result.documents_out == len(after)
    assert sum(result.removed.values()) == len(rows) == 10

    with Catalog(str(corpus)) as cat:  # the catalog sees the rewritten corpus and the earlier rows
        assert cat.arrow("select count(*) n from docs").to_pylist()[0]["n"] == len(after)
        failed = cat.arrow("select error, count(*) n from images where status = 'failed' group by 1").to_pylist()
        assert {r["error"]: r["n"] for r in failed} == {"duplicate_image_sha256": 4, "near_duplicate_image": 1}
        assert cat.arrow("select count(*) n from rejected where stage = 'text_quality'").to_pylist()[0]["n"] == 1
        runs = cat.arrow("select pipeline, status, counts from runs where pipeline = 'dedup'").to_pylist()
        assert len(runs) == 1 and runs[0]["status"] == "completed"
        assert json.loads(runs[0]["counts"])["dedup"]["out"] == len(after)
    ledger = Ledger(str(corpus)).entry("part-b")
    assert ledger["run_id"] == result.run_id and ledger["previous_run_id"] == "test-run"
    assert (Path(thumbnail_path(str(corpus), near[0]["id"], near[0]["image_index"]))).is_file()
    assert not (corpus / ".dedup").exists()

    again = run_dedup(str(corpus), DedupConfig(paragraph_min_docs=3), executor="local")  # nothing left to find
    assert not again.removed and again.partitions_rewritten == 0
    assert validate_corpus(str(corpus)) == []


def test_dedup_to_out_leaves_the_source_alone(corpus: Path, tmp_path: Path):
    shards_before = {p.relative_to(corpus): p.read_bytes() for folder in ("shards", "docs", "images")
                     for p in (corpus / folder).iterdir()}
    out = tmp_path / "out"
    config = DedupConfig(paragraphs=False, documents=False, urls=False, maxcount=2)
    result = run_dedup(str(corpus), config, out=str(out), executor="local")
    assert {p.relative_to(corpus): p.read_bytes() for folder in ("shards", "docs", "images")
            for p in (corpus / folder).iterdir()} == shards_before
    assert validate_corpus(str(out)) == []
    rows = dedup_rows(out)
    assert {r["reason"] for r in rows} == {"duplicate_image_sha256", "near_duplicate_image"}
    # part-b lost images and was rewritten in shards of 2 documents; part-a was copied as it was
    assert result.partitions_rewritten == 1
    names = list_shards(str(out))
    before = list_shards(str(corpus))
    assert [n for n in names if n.startswith("part-a")] == [n for n in before if n.startswith("part-a")]
    assert len([n for n in names if n.startswith("part-b")]) == 7
    assert (out / "rejected" / "part-a.parquet").read_bytes() == (corpus / "rejected" / "part-a.parquet").read_bytes()
    with pytest.raises(Exception, match="not empty"):
        run_dedup(str(corpus), config, out=str(out), executor="local")


def test_an_interrupted_commit_is_finished_by_the_next_run(corpus: Path):
    config = DedupConfig()
    work = str(corpus / ".dedup" / "work")
    for url in shard_urls(str(corpus)):
        shard_signatures(url, work, config)
    decisions, _ = decide(str(corpus), work, config)
    rows = [r for r in decisions.to_pylist() if r["partition"] == "part-b"]
    shards = [n for n in list_shards(str(corpus)) if n.startswith("part-b")]
    rewrite_partition(str(corpus), "part-b", shards, rows, f"{staging_root(str(corpus))}/part-b", work, config, "r1")
    mark_ready(str(corpus), "r1", ["part-b"])
    # the run "died" here: nothing swapped yet, and the corpus is still the old one
    assert validate_corpus(str(corpus)) == []
    assert any(d.url == "https://mirror.example/tsne" for d in iter_corpus(str(corpus)))

    run_dedup(str(corpus), config, executor="local")  # first finishes the staged commit, then dedups
    assert validate_corpus(str(corpus)) == []
    assert not any(d.url == "https://mirror.example/tsne" for d in iter_corpus(str(corpus)))
    reasons = [r["reason"] for r in dedup_rows(corpus)]
    assert reasons.count("near_duplicate_document") == 1 and reasons.count("duplicate_image_sha256") == 4


def test_minhash_estimates_jaccard_on_real_text(fixtures: Path):
    text = " ".join(page_texts(fixtures, PAGES[4]))
    words = normalize(text).split()
    edited = words[:200] + ["inserted", "words", "here"] + words[200:-40]
    others = normalize(" ".join(page_texts(fixtures, PAGES[3]))).split()

    def shingles(ws: list[str]) -> set[tuple[str, ...]]:
        return {tuple(ws[i:i + 5]) for i in range(len(ws) - 4)}

    hasher = MinHasher(num_perm=256, seed=3)
    sig = hasher.signatures([" ".join(words), " ".join(edited), " ".join(others), "", "!!!"])
    for other, row in ((edited, 1), (others, 2)):
        true = len(shingles(words) & shingles(other)) / len(shingles(words) | shingles(other))
        assert abs(float(jaccard_estimate(sig[0], sig[row])) - true) < 0.08, (row, true)
    assert (sig[3] == sig[4]).all() and (sig[3] == 0xFFFFFFFF).all()  # no shingles: the empty signature
    keys = MinHasher.band_keys(sig[:2], 32, 8)
    assert (keys[0] == keys[1]).sum() >= 10  # a 0.9-similar pair shares many of 32 bands
    chars = MinHasher(64, shingle="char", shingle_size=7).signatures(["Hello, World!", "hello world"])
    assert (chars[0] == chars[1]).all()  # case and punctuation are normalised away


def test_config_and_cli_errors(tmp_path: Path):
    with pytest.raises(DedupConfigError, match="jacard_threshold"):
        load_config(overrides=["jacard_threshold=0.5"])
    with pytest.raises(DedupConfigError, match="phash_bands"):
        DedupConfig(phash_bands=33)
    path = tmp_path / "dedup.yaml"
    path.write_text("dedup:\n  jaccard_threshold: 1\n  repeated_image_max_docs: null\n")
    config = load_config(path, ["phash_threshold=4"])
    assert config.jaccard_threshold == 1.0 and config.repeated_image_max_docs is None and config.phash_threshold == 4
    proc = subprocess.run([sys.executable, "-m", "dataengine", "dedup", str(tmp_path / "nothing"), "--local"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"dataengine: error: corpus not found: {tmp_path / 'nothing'}"]


def test_sample_web_end_to_end_with_ray(ray_session, tmp_path: Path):
    from dataengine.runner.config import load_pipeline
    from dataengine.runner.pipeline import run_pipeline
    from dataengine.sampleweb.generate import SampleWebConfig, generate_site
    from dataengine.sampleweb.server import SampleWebServer

    site = tmp_path / "site"
    generate_site(site, SampleWebConfig(pages=24, seed=5))
    corpus = tmp_path / "corpus"
    with SampleWebServer(site) as server:
        config = load_pipeline(REPO / "pipelines" / "demo.yaml", [f"source.url={server.url}sitemap.xml"])
        run_pipeline(config, str(corpus))
    dedup = load_config(REPO / "pipelines" / "dedup" / "sampleweb.yaml")
    result = run_dedup(str(corpus), dedup, executor="ray")
    assert validate_corpus(str(corpus)) == []
    labels = {}
    for line in (site / "ground_truth.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item["kind"] == "image":
            labels[item["path"]] = item["label"]
    rows = [r for r in dedup_rows(corpus) if r["level"] == "image"]
    found = {}
    for r in rows:
        found.setdefault(r["reason"], []).append(labels[urlsplit(r["url"]).path])
    # the stock pictures repeated across articles all go; duplicates found are mostly the planted ones
    assert found["repeated_image"] and set(found["repeated_image"]) == {"repeated"}
    planted = found.get("duplicate_image_sha256", []) + found.get("near_duplicate_image", [])
    assert planted.count("near_duplicate") >= 1 and planted.count("near_duplicate") >= planted.count("content")
    assert result.removed[("image", "repeated_image")] == len(found["repeated_image"])
    assert np.isfinite(result.seconds["total"])
