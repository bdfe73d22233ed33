"""File sources on real archives: WARC and WET, globs and ``warc.paths.gz`` lists, local and on S3.

S3 is moto's S3 API server on loopback (a real HTTP server speaking the S3 protocol), read
through s3fs exactly as a bucket on AWS would be.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from dataengine.runner.config import ConfigError, parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards import iter_corpus
from dataengine.shards.ledger import Ledger
from dataengine.sources.base import partition_id
from dataengine.sources.paths import expand_paths, input_files
from dataengine.sources.warc import WarcSource
from schemas import Document, Rejection

WIKI = "cc-main-2024-22-wikipedia.warc.gz"
WIKI_WET = "cc-main-2024-22-wikipedia.warc.wet.gz"
WGET = "wget-english-sample.warc.gz"


def read_all(source: WarcSource) -> list[Document | Rejection]:
    return [item for p in source.partitions() for item in source.read(p)]


def test_wet_records_become_text_documents(fixtures):
    items = read_all(WarcSource(paths=str(fixtures / "warc" / WIKI_WET)))
    [doc] = items
    assert isinstance(doc, Document) and doc.raw is None and not doc.images
    assert doc.url == "https://an.wikipedia.org/wiki/Escopete" and doc.source.kind == "warc"
    with gzip.open(fixtures / "warc" / WIKI_WET, "rb") as f:
        [text] = [r.content_stream().read().decode() for r in ArchiveIterator(f) if r.rec_type == "conversion"]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert [s.text for s in doc.segments] == lines  # one text segment per paragraph, nothing lost
    assert doc.segments[0].text == "Escopete - Biquipedia, a enciclopedia libre"


def test_warc_documents_carry_the_body_and_where_the_record_is(fixtures):
    path = fixtures / "warc" / WGET
    docs = [d for d in read_all(WarcSource(paths=str(path))) if isinstance(d, Document)]
    assert len(docs) == 22
    data = path.read_bytes()
    for doc in docs:
        assert len(doc.raw.body) > 1000 and b"<" in doc.raw.body[:2000]
        # offset and length cut out exactly this record, as a Common Crawl index entry would
        piece = data[doc.source.offset: doc.source.offset + doc.source.length]
        [(url, body)] = [(r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
                         for r in ArchiveIterator(io.BytesIO(piece))]
        assert url == doc.url and body == doc.raw.body


def test_globs_and_path_lists(fixtures, tmp_path):
    warc = fixtures / "warc"
    assert expand_paths(str(warc / "cc-main-2024-22-*")) == [str(warc / WIKI), str(warc / WIKI_WET)]
    # Common Crawl's form: gzipped, one path per line, relative to a prefix
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(f"{WIKI}\n{WIKI_WET}\n\n".encode()))
    listed = input_files(None, str(listing), str(warc), None, "t")
    assert listed == [f"{warc}/{WIKI}", f"{warc}/{WIKI_WET}"]
    # without a prefix, entries are relative to the list's folder; absolute entries stay as they are
    (tmp_path / "local.paths").write_text(f"{warc / WGET}\n{WIKI}\n")
    assert input_files(None, str(tmp_path / "local.paths"), None, None, "t") == [str(warc / WGET),
                                                                                 f"{tmp_path}/{WIKI}"]
    # paths and lists together, duplicates once
    both = WarcSource(paths=str(warc / WIKI), path_list=str(listing), prefix=str(warc)).partitions()
    assert [p.uri for p in both] == [str(warc / WIKI), str(warc / WIKI_WET)]


def test_missing_listed_file_is_a_rejection_not_a_crash(fixtures, tmp_path):
    (tmp_path / "warc.paths").write_text(f"{WIKI_WET}\ngone.warc.gz\n")
    source = WarcSource(path_list=str(tmp_path / "warc.paths"), prefix=str(fixtures / "warc"))
    reasons = Counter(getattr(i, "reason", "document") for i in read_all(source))
    assert reasons == {"document": 1, "warc_unreadable": 1}


@pytest.mark.parametrize("params, message", [
    ({"paths": "/nonexistent/*.warc.gz"}, "'/nonexistent/*.warc.gz' matches no file"),
    ({}, "give paths (files or globs) or path_list"),
    ({"path_list": "/nonexistent/warc.paths.gz"}, "cannot read path list '/nonexistent/warc.paths.gz'"),
])
def test_config_mistakes_name_the_input(params, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        WarcSource(**params).partitions()


def test_warc_and_wet_from_s3_through_the_pipeline(ray_session, s3, fixtures, tmp_path):
    fs = s3
    fs.mkdir("crawl")
    segment = "crawl-data/CC-TEST/segments/0001"
    listed = [f"{segment}/warc/{WGET}", f"{segment}/warc/{WIKI}", f"{segment}/wet/{WIKI_WET}",
              f"{segment}/warc/missing.warc.gz", f"{segment}/warc/empty.warc.gz"]
    for key in listed[:3]:
        fs.pipe(f"crawl/{key}", (fixtures / "warc" / Path(key).name).read_bytes())
    fs.pipe(f"crawl/{listed[4]}", b"")  # a zero-byte upload: a row in the ledger, not nothing
    fs.pipe(f"crawl/{segment}/warc.paths.gz", gzip.compress("\n".join(listed).encode()))

    # Input and output on S3, each reached with its own storage_options: the session's Ray workers
    # started before this server did, so nothing in their environment points at it.
    config = parse_pipeline({"name": "s3-warc", "source": {
        "kind": "warc", "path_list": f"s3://crawl/{segment}/warc.paths.gz", "prefix": "s3://crawl/",
        "storage_options": s3.storage_options}, "sink": {"storage_options": s3.storage_options}})
    corpus = "s3://crawl/corpus"
    result = run_pipeline(config, corpus)
    assert fs.ls("crawl/corpus/ledger")
    assert result.partitions_done == 5
    assert {reason: n for (_, _, reason), n in result.rejected.items()} == {"not_html": 2, "warc_unreadable": 1,
                                                                            "warc_empty": 1}
    empty = Ledger(str(corpus)).entry(partition_id("warc", f"s3://crawl/{listed[4]}"))
    assert empty["n_docs"] == 0 and empty["n_rejected"] == 1

    docs = list(iter_corpus(str(corpus)))
    local = [d for name in (WGET, WIKI, WIKI_WET)
             for d in read_all(WarcSource(paths=str(fixtures / "warc" / name))) if isinstance(d, Document)]
    assert sorted(d.url for d in docs) == sorted(d.url for d in local) and len(docs) == 24
    by_uri = Counter(d.source.uri.rsplit("/", 1)[-1] for d in docs)
    assert by_uri == {WGET: 22, WIKI: 1, WIKI_WET: 1}
    assert all(d.source.uri.startswith(f"s3://crawl/{segment}/") for d in docs)
    [wet] = [d for d in docs if d.source.uri.endswith(WIKI_WET)]
    [wet_local] = [d for d in local if d.source.uri.endswith(WIKI_WET)]
    assert wet.segments == wet_local.segments and len(wet.segments) > 100
