"""Opt-out: header, meta and TDMRep signals; user lists; the ``optout`` stage in a crawl pipeline
(on a real loopback server, through Ray); and ``dataengine optout CORPUS LIST`` on a real corpus."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from fault_server import FaultServer

from dataengine.catalog.catalog import Catalog
from dataengine.catalog.validate import validate_corpus
from dataengine.cli import main
from dataengine.crawl.links import parse_html
from dataengine.optout.lists import OptOutList
from dataengine.optout.signals import header_optout, meta_optout, page_optout, x_robots_directives
from dataengine.runner.config import parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards import ShardWriter, iter_corpus, write_rejected
from dataengine.shards.ledger import Ledger
from schemas import Document, ImageRecord, Segment, SourceRef, document_id

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a1f6e1d10000000049454e44ae426082")


def test_x_robots_tag_directives():
    assert x_robots_directives(["noai, noimageai"], "dataengine") == {"noai", "noimageai"}
    assert x_robots_directives(["otherbot: noai", "noimageai"], "dataengine") == {"noimageai"}
    assert x_robots_directives(["dataengine: noai, otherbot: nofollow"], "dataengine") == {"noai"}
    assert x_robots_directives(["unavailable_after: 25 Jun 2010 15:00:00 PST, NoAI"], "x") == {
        "unavailable_after: 25 jun 2010 15:00:00 pst", "noai"}


def test_page_signals():
    assert header_optout({"X-Robots-Tag": "noai"}, "dataengine").reason == "optout_noai"
    only_images = header_optout([("x-robots-tag", "noimageai")], "dataengine")
    assert only_images.reason is None and only_images.noimageai
    assert header_optout({"tdm-reservation": "1"}, "dataengine").reason == "optout_tdm_reservation"
    assert header_optout({"tdm-reservation": "0"}, "dataengine").reason is None
    assert header_optout({"X-Robots-Tag": "otherbot: noai"}, "dataengine").reason is None
    meta = parse_html(b'<html><head><meta name="ROBOTS" content="NoImageAI"></head></html>')
    assert meta_optout(meta, "dataengine").noimageai and meta_optout(meta, "dataengine").reason is None
    tdm = parse_html(b'<head><meta name="tdm-reservation" content="1"></head>')
    assert meta_optout(tdm, "dataengine").reason == "optout_tdm_reservation"
    ours = parse_html(b'<head><meta name="dataengine" content="noai"></head>')
    assert page_optout({}, ours, "dataengine").reason == "optout_meta_noai"
    assert page_optout({}, ours, "otherbot").reason is None


def test_optout_list_parsing_and_matching(tmp_path):
    listed = OptOutList.parse("# artists who said no\nhttps://Site.org/a/../Gallery.html#x\n\n"
                              "example.com\n*.images.net  # and subdomains\n")
    assert listed.match("https://site.org/Gallery.html") == "https://site.org/Gallery.html"
    assert listed.match("https://site.org/gallery.html") is None  # paths keep their case
    assert listed.match("http://cdn.example.com/x.png") == "example.com"
    assert listed.match("http://example.com.evil.org/") is None
    assert listed.match("https://images.net/p.jpg") == "images.net" and len(listed) == 3
    with pytest.raises(ValueError, match=r"list.txt:2: 'not a domain!'"):
        (tmp_path / "list.txt").write_text("example.com\nnot a domain!\n")
        OptOutList.load(str(tmp_path / "list.txt"))
    with pytest.raises(ValueError, match="does not exist"):
        OptOutList.load(str(tmp_path / "missing.txt"))


PAGE = ('<html><head><title>{title}</title>{meta}</head><body><article><h1>{title}</h1>'
        '<p>A paragraph long enough to be kept as main content of this page, about shapes.</p>'
        '<img src="/ok/astronaut.jpg" alt="astronaut"><p>More text after the picture, also kept.</p>'
        '<img src="http://listed-images.org/cat.jpg" alt="cat">{links}</article></body></html>')


def test_optout_in_a_crawl_pipeline(ray_session, tmp_path):
    pages = {  # path -> (headers, meta tag)
        "/plain.html": ({}, ""), "/noai.html": ({"X-Robots-Tag": "noai"}, ""),
        "/noimageai.html": ({"X-Robots-Tag": "noimageai"}, ""),
        "/meta-noimageai.html": ({}, '<meta name="robots" content="noimageai">'),
        "/meta-noai.html": ({}, '<meta name="robots" content="noai">'),
        "/tdm.html": ({"tdm-reservation": "1"}, ""),
        "/tdm-meta.html": ({}, '<meta name="tdm-reservation" content="1">'),
        "/listed.html": ({}, ""),
    }
    links = "".join(f'<a href="{p}">{p}</a>' for p in pages)
    listing = tmp_path / "optout.txt"
    with FaultServer() as server:
        for path, (headers, meta) in pages.items():
            server.add(path, PAGE.format(title=path, meta=meta, links=links), headers=headers)
        listing.write_text(f"{server('/listed.html')}\nlisted-images.org\n")
        config = parse_pipeline({
            "name": "optout-test",
            "source": {"kind": "crawl", "seeds": [server("/plain.html")], "state_dir": str(tmp_path / "state"),
                       "allow_private": ["127.0.0.0/8"], "optout_list": str(listing), "politeness": {"delay": 0}},
            "stages": [{"name": "extract_html"}, {"name": "optout", "params": {"optout_list": str(listing)}}]})
        result = run_pipeline(config, str(tmp_path / "corpus"))
        requested = {r.path for r in server.requests}
    assert "/listed.html" not in requested  # a listed page is never fetched
    by_url = {d.url.rsplit("/", 1)[1]: d for d in iter_corpus(str(tmp_path / "corpus"))}
    assert sorted(by_url) == ["meta-noimageai.html", "noimageai.html", "plain.html"]
    for name in ("noimageai.html", "meta-noimageai.html"):
        doc = by_url[name]
        assert doc.scores["optout_noimageai"] == 1.0 and doc.text  # text kept
        assert [(i.status, i.error) for i in doc.images] == [("failed", "optout_noimageai")] * 2
    plain = by_url["plain.html"]
    assert [(i.status, i.error) for i in plain.images] == [("pending", None), ("failed", "optout_list")]
    assert {k: n for k, n in result.rejected.items() if k[0] == "source:crawl"} == {
        ("source:crawl", "document", "optout_noai"): 1, ("source:crawl", "document", "optout_meta_noai"): 1,
        ("source:crawl", "document", "optout_tdm_reservation"): 2, ("source:crawl", "document", "optout_list"): 1}
    assert result.rejected[("optout", "image", "optout_noimageai")] == 4
    assert result.rejected[("optout", "image", "optout_list")] == 1
    assert validate_corpus(str(tmp_path / "corpus")) == []


def _doc(url: str, image_urls: list[str]) -> Document:
    doc = Document(document_id(url, "test"), url, SourceRef("crawl", "test"))
    doc.segments = [Segment.of_text(f"Text of {url}.")]
    for i, image_url in enumerate(image_urls):
        doc.images.append(ImageRecord(i, image_url, status="ok", format="png", data=PNG))
        doc.segments.append(Segment.of_image(i))
    return doc


def _corpus(root: str) -> None:
    """Two committed partitions, as the runner writes them: shards, rejected rows, ledger entries."""
    partitions = {
        "part-a": [_doc(f"http://keep.org/{i}.html", ["http://keep.org/i.png"]) for i in range(5)]
                  + [_doc("http://optout.org/1.html", ["http://keep.org/j.png"])],
        "part-b": [_doc("http://keep.org/b.html", ["http://cdn.optout.org/x.png", "http://keep.org/k.png"]),
                   _doc("https://keep.org/listed.html", [])],
        "part-c": [_doc("http://keep.org/c.html", [])],
    }
    for partition, docs in partitions.items():
        with ShardWriter(root, partition, maxcount=2) as writer:
            for doc in docs:
                writer.write(doc)
        shards = writer.close()
        write_rejected(root, partition, [])
        Ledger(root).record(partition, {"run_id": "r1", "n_docs": len(docs), "n_rejected": 0,
                                        "shards": [s.to_json() for s in shards]})


def test_optout_command_rewrites_a_corpus(tmp_path, capsys):
    corpus = str(tmp_path / "corpus")
    _corpus(corpus)
    listing = tmp_path / "list.txt"
    listing.write_text("optout.org\nhttps://keep.org/listed.html\n")
    assert main(["optout", corpus, str(listing)]) == 0
    assert "removed 2 documents and 1 images" in capsys.readouterr().out
    assert validate_corpus(corpus) == []
    docs = {d.url: d for d in iter_corpus(corpus)}
    assert len(docs) == 7 and "http://optout.org/1.html" not in docs and "https://keep.org/listed.html" not in docs
    kept = docs["http://keep.org/b.html"]
    assert [(i.status, i.error, i.data is None) for i in kept.images] == [("failed", "optout_list", True),
                                                                         ("ok", None, False)]
    with Catalog(corpus) as cat:
        rows = cat.arrow("select partition, level, reason, url from rejected where stage = 'optout' "
                         "order by partition, level").to_pylist()
    assert [(r["partition"], r["level"], r["url"]) for r in rows] == [
        ("part-a", "document", "http://optout.org/1.html"), ("part-b", "document", "https://keep.org/listed.html"),
        ("part-b", "image", "http://cdn.optout.org/x.png")] and {r["reason"] for r in rows} == {"optout_list"}
    assert Ledger(corpus).entry("part-a")["n_docs"] == 5 and len(Ledger(corpus).entry("part-a")["shards"]) == 3
    untouched = tmp_path / "corpus" / "shards" / "part-c-00000.tar"
    mtime = untouched.stat().st_mtime_ns

    assert main(["optout", corpus, str(listing)]) == 0  # again: nothing left to remove, nothing repeated
    assert "removed 0 documents and 0 images" in capsys.readouterr().out
    assert pq.read_table(tmp_path / "corpus" / "rejected" / "part-b.parquet").num_rows == 2
    assert untouched.stat().st_mtime_ns == mtime and validate_corpus(corpus) == []


def test_optout_command_errors(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("ftp://example.org/x\n")
    assert main(["optout", str(tmp_path), str(bad)]) == 2
    assert "bad.txt:1" in capsys.readouterr().err
    good = tmp_path / "good.txt"
    good.write_text("example.org\n")
    assert main(["optout", str(tmp_path / "nowhere"), str(good)]) == 2
    assert "corpus not found" in capsys.readouterr().err
