"""The funnel report on a real corpus: fixture photos and page text, a run record, filter rejections
whose images are fetched back from a loopback server, and a dedup run that keeps thumbnails."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from repo_paths import REPO

from dataengine.catalog.catalog import Catalog
from dataengine.dedup import DedupConfig, run_dedup
from dataengine.extract import extract_page
from dataengine.report.data import gather
from dataengine.shards import ShardWriter, write_rejected
from dataengine.shards.ledger import Ledger
from dataengine.shards.run_record import RunRecord
from schemas import Document, ImageRecord, Rejection, Segment, SourceRef, document_id

KEPT = ["img1.png", "img2.jpg", "img3.jpg", "img4.png", "img_pair_1.jpg", "img_pair_2.jpg", "cat.jpg", "blip.jpg"]
FILTERED = ["img9.jpg", "img10.jpg"]  # "removed by a filter": their bytes are not in the shards


@pytest.fixture
def photo_server(fixtures: Path):
    """The fixture photos over HTTP on loopback, as the web served them."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(fixtures / "photos"))
    handler.log_message = lambda *a, **k: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def build_corpus(fixtures: Path, root: Path, base: str) -> None:
    pages = ["nature.com.telescope.html", "creativecommons.org.html", "knowtechie.com.rally.html"]
    docs, rejected = [], []
    for n, name in enumerate(KEPT + FILTERED):
        data = (fixtures / "photos" / name).read_bytes()
        page = pages[n % len(pages)]
        texts = [s.text for s in extract_page((fixtures / "html" / page).read_bytes(), f"https://{page}/").segments
                 if s.kind == "text" and s.text][n:n + 4]
        url = f"https://photos.example/{name}.html"
        doc = Document(document_id(url, "test"), url, SourceRef("crawl", "test"),
                       segments=[Segment.of_text(t) for t in texts] + [Segment.of_image(0)],
                       scores={"word_count": float(sum(len(t.split()) for t in texts)), "language_score": 0.5 + n / 40})
        with Image.open(io.BytesIO(data)) as im:
            size, fmt = im.size, im.format.lower()
        image = ImageRecord(0, base + name, width=size[0], height=size[1], format=fmt, status="ok",
                            sha256=hashlib.sha256(data).hexdigest(), data=data, scores={"nsfw": n / 20})
        if name in FILTERED:  # what image_rules does to an image it fails
            image.status, image.error, image.data, image.sha256 = "failed", "side_too_small", None, None
            rejected.append(Rejection(doc.id, image.url, "image", "image_rules", "side_too_small", 100, 150,
                                      image_index=0, partition="photos"))
        doc.images = [image]
        docs.append(doc)
    rejected.append(Rejection("f" * 24, "https://spam.example/", "document", "text_quality",
                              "stopword_ratio_low", 0.1, 0.35, partition="photos"))
    with ShardWriter(str(root), "photos", maxcount=4) as writer:
        for doc in docs:
            writer.write(doc)
    shards = writer.close()
    write_rejected(str(root), "photos", rejected)
    Ledger(str(root)).record("photos", {"run_id": "r0", "n_docs": len(docs), "n_rejected": len(rejected),
                                        "shards": [s.to_json() for s in shards]})
    record = RunRecord("r0", "test", {"stages": [{"name": "text_quality"}, {"name": "image_rules"}]}, str(root))
    record.add({"source": {"in": len(docs) + 1, "out": len(docs) + 1},
                "text_quality": {"in": len(docs) + 1, "out": len(docs), "document:stopword_ratio_low": 1},
                "image_rules": {"in": len(docs), "out": len(docs), "image:side_too_small": 2},
                "sink": {"in": len(docs), "out": len(docs)}}, {})
    record.finish("completed")
    record.save()


def data_uris(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/[a-z]+;base64,([^"]+)"', html)]


def test_report_renders_real_data(fixtures: Path, tmp_path: Path, photo_server: str):
    corpus = tmp_path / "corpus"
    build_corpus(fixtures, corpus, photo_server)
    run_dedup(str(corpus), DedupConfig(paragraphs=False), executor="local")

    data = gather(str(corpus), kept=6, per_reason=4, fetch_rejected=True)
    assert data.funnel == [("read", 11), ("source", 11), ("text_quality", 10), ("image_rules", 10), ("sink", 10),
                           ("dedup", 10)]
    with Catalog(str(corpus)) as cat:
        counts = {(r["stage"], r["reason"]): r["n"] for r in
                  cat.arrow("select stage, reason, count(*) n from rejected group by all").to_pylist()}
    assert {(b.stage, b.reason): b.count for b in data.reasons} == counts
    assert counts[("dedup", "duplicate_image_sha256")] == 1 and counts[("dedup", "near_duplicate_image")] == 1
    blocks = {b.reason: b for b in data.reasons}
    # dedup kept the removed copy's thumbnail and shows it beside the copy it kept
    near = blocks["near_duplicate_image"].tiles[0]
    assert near.source == "kept at removal" and near.thumb and near.kept and near.kept.thumb
    assert "img_pair_2.jpg" in near.caption and "img_pair_1.jpg" in near.kept.caption
    # the filter's removed images were fetched back from the loopback server
    filtered = blocks["side_too_small"].tiles
    assert len(filtered) == 2 and all(t.source == "fetched now" and t.thumb for t in filtered)
    assert len(data.kept) == 6 and all(t.thumb for t in data.kept)
    assert set(data.doc_scores) == {"word_count", "language_score"} and set(data.image_scores) == {"nsfw"}

    out = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "dataengine", "report", str(corpus), "--html", str(out),
                           "--kept", "5"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    for text in ("Funnel", "near_duplicate_image", "duplicate_image_sha256", "side_too_small", "stopword_ratio_low",
                 "Document scores", "Images kept", "kept at removal", "no picture: its bytes were not kept"):
        assert text in html, text
    pictures = data_uris(html)
    # 4 plots (funnel, reasons, two histogram grids), 5 kept, 2 duplicate pairs of two
    assert len(pictures) == 4 + 5 + 2 * 2
    for blob in pictures:
        with Image.open(io.BytesIO(blob)) as im:
            im.load()


def test_report_errors(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "dataengine", "report", str(tmp_path / "missing"), "--html",
                           str(tmp_path / "r.html")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"dataengine: error: corpus not found: {tmp_path / 'missing'}"
