"""HTML extraction: real pages (German, English, French; gb2312 and windows-1251 WARC records),
one HTML snippet per feature, the ``extract_html`` stage and the ``dataengine extract`` command."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from repo_paths import REPO
from warcio.archiveiterator import ArchiveIterator

from dataengine.extract import ExtractConfig, UndecodableError, decode_html, extract_page
from dataengine.extract.images import parse_srcset
from dataengine.extract.stage import HtmlExtractor
from dataengine.stages.base import Batch
from schemas import Document, RawPage, SourceRef
from schemas.validate import validate_document

PAGE_URL = "https://example.com/blog/post.html"


def extract(html: str, url: str = PAGE_URL, **config):
    return extract_page(html.encode("utf-8"), url, {"content-type": "text/html; charset=utf-8"},
                        ExtractConfig(**config))


def texts(page) -> list[str]:
    return [s.text for s in page.segments if s.kind == "text"]


def flow(page) -> list[str]:
    """Segments as strings: text, or ``IMG:<alt or url>`` for images."""
    return [s.text if s.kind == "text" else f"IMG:{page.images[s.image].alt or page.images[s.image].url}"
            for s in page.segments]


def position(items: list[str], needle: str) -> int:
    return next(i for i, item in enumerate(items) if needle in item)


def warc_record(fixtures: Path, url_prefix: str) -> tuple[bytes, str]:
    """Body and Content-Type of the response record for ``url_prefix`` in the Common Crawl sample."""
    with open(fixtures / "warc" / "cc-main-2020-34-sample.warc.gz", "rb") as f:
        for record in ArchiveIterator(f):
            uri = record.rec_headers.get_header("WARC-Target-URI") or ""
            if record.rec_type == "response" and uri.startswith(url_prefix):
                return record.content_stream().read(), record.http_headers.get_header("Content-Type")
    raise AssertionError(f"no record for {url_prefix}")


def real_png(side: int = 40) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


# -- real pages ---------------------------------------------------------------------------------

def test_german_blog_keeps_article_and_images_in_order(fixtures):
    page = extract_page((fixtures / "html" / "befifty.montauk.html").read_bytes(),
                        "https://www.befifty.de/home/2017/7/12/montauk")
    text = "\n".join(texts(page))
    assert "Von wegen! In Italien ist alles wohl organisiert" in text
    assert page.title == "Das vielleicht schönste Ende der Welt: Montauk"
    for chrome in ("Datenschutzerklärung", "Impressum", "StumbleUpon", "Alles in 'Travel'"):
        assert chrome not in text
    order = flow(page)
    paragraph = position(order, "Montauk auf Long Island ist einer der berühmtesten")
    picture = order.index("IMG:Montauk Long Island USA")
    heading = position(order, "Pick-up’s, Surfboards und Angelruten")
    assert paragraph < picture < heading
    assert len(page.images) >= 20 and all(i.status == "pending" and i.url.startswith("https://")
                                           for i in page.images)


def test_english_news_resolves_relative_images_against_page_url(fixtures):
    page = extract_page((fixtures / "html" / "dw.com.uncork.html").read_bytes(),
                        "https://www.dw.com/en/uncork-the-mystery/a-16864620")
    text = "\n".join(texts(page))
    assert "One of Germany's smallest wine regions with some of the boldest wines" in text
    assert "Schedule and Reception" not in text and "Germany and Turkey - A difficult relationship" not in text
    first = page.images[0]
    assert first.alt == "Vineyards near the village of Walporzheim near the Ahr Valley"
    assert first.url == "https://www.dw.com/image/16864611_303.jpg"
    order = flow(page)
    assert position(order, "One of Germany's smallest") < order.index(f"IMG:{first.alt}") \
        < position(order, "Climbing out of Ahrweiler")


def test_french_radio_page_picture_and_figcaption(fixtures):
    page = extract_page((fixtures / "html" / "franceculture.fr.idees.html").read_bytes(),
                        "https://www.franceculture.fr/emissions/le-journal-des-idees/prendre-la-parole")
    text = "\n".join(texts(page))
    assert "Serions-nous entrés dans l’ère de ce que Paul Valadier" in text
    assert "Maison de la Radio" not in text and "Vous êtes ici" not in text
    image = page.images[0]
    assert image.alt == "Jean Jaurès à l'Assemblée, par Jean Veber"
    assert image.caption.startswith("Jean Jaurès à l'Assemblée, par Jean Veber") and image.caption_model == "figcaption"
    assert image.url.startswith("https://cdn.radiofrance.fr/") and "gettyimages-593279110" in image.url
    order = flow(page)
    assert position(order, "Grand débat national") < order.index(f"IMG:{image.alt}") < position(order, "Serions-nous")


def test_every_fixture_page_yields_a_valid_document(fixtures):
    stage = HtmlExtractor()
    docs = [Document(id=f"{i:024x}", url=f"https://example.org/{p.name}", source=SourceRef("crawl", str(p)),
                     raw=RawPage(p.read_bytes(), {"content-type": "text/html"}))
            for i, p in enumerate(sorted((fixtures / "html").glob("*.html")))]
    batch = stage(Batch("fixtures", docs))
    assert len(batch.docs) == len(docs)
    for doc in batch.docs:
        validate_document(doc.to_json())
        assert doc.raw is None and doc.provenance == [{"stage": "extract_html", "version": "1"}]
    assert sum(len(doc.images) for doc in batch.docs) >= 100


# -- charsets ------------------------------------------------------------------------------------

def test_charset_from_http_header_windows_1251(fixtures):
    body, content_type = warc_record(fixtures, "http://01spb.ru/")
    decoded = decode_html(body, content_type)
    assert (decoded.encoding, decoded.source) == ("cp1251", "header")
    assert "О компании" in decoded.text and "\ufffd" not in decoded.text


def test_charset_from_meta_when_header_has_none(fixtures):
    body, content_type = warc_record(fixtures, "http://041696.com/")
    assert "charset" not in content_type
    decoded = decode_html(body, content_type)
    assert (decoded.encoding, decoded.source) == ("gb18030", "meta")
    assert "上海特舟实业有限公司" in decoded.text


def test_gb2312_label_decodes_as_its_gbk_superset(fixtures):
    body, content_type = warc_record(fixtures, "http://096355.com/")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")  # the page uses characters outside the charset it declares
    decoded = decode_html(body, content_type)
    assert decoded.source == "meta" and "\ufffd" not in decoded.text


@pytest.mark.parametrize(("url_prefix", "codec"), [("http://01spb.ru/", "cp1251"), ("http://037426.cn/", "gb18030")])
def test_charset_sniffed_without_any_declaration(fixtures, url_prefix, codec):
    body, _ = warc_record(fixtures, url_prefix)
    undeclared = re.sub(rb"charset\s*=\s*[\"']?[\w-]+", b"", body)
    assert b"charset" not in undeclared.lower()
    decoded = decode_html(undeclared, None)
    assert (decoded.encoding, decoded.source) == (codec, "sniffed")
    assert decoded.text == undeclared.decode(codec)


def test_valid_utf8_wins_over_a_wrong_declaration():
    body = '<meta charset="windows-1251"><p>Grüße aus Köln — 你好</p>'.encode()
    decoded = decode_html(body, "text/html; charset=gb2312")
    assert (decoded.encoding, decoded.source) == ("utf-8", "utf-8")
    assert "Grüße aus Köln — 你好" in decoded.text


def test_binary_body_is_undecodable(fixtures):
    with pytest.raises(UndecodableError, match="binary"):
        decode_html((fixtures / "photos" / "img1.png").read_bytes(), "text/html")


# -- features, one snippet each ------------------------------------------------------------------

def test_srcset_largest_candidate_and_src_competing_at_declared_width():
    assert parse_srcset("a.jpg, b.jpg 2x") == [("a.jpg", 0.0, 1.0), ("b.jpg", 0.0, 2.0)]
    assert parse_srcset("https://x/c_fill,w_100/a.jpg 100w,https://x/c_fill,w_800/a.jpg 800w")[1][0] \
        == "https://x/c_fill,w_800/a.jpg"
    page = extract('<p>text</p><img src="s.jpg" srcset="m.jpg 600w, l.jpg 1200w, s.jpg 300w" alt="a">'
                   '<img src="big.jpg" width="900" srcset="t.jpg 90w, u.jpg 180w" alt="b">')
    assert [i.url for i in page.images] == ["https://example.com/blog/l.jpg", "https://example.com/blog/big.jpg"]


def test_lazy_load_attributes_beat_placeholders():
    page = extract('<p>text</p>'
                   '<img src="data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=" '
                   'data-src="/img/one.jpg" alt="one">'
                   '<img src="/wp-content/plugins/lazy_placeholder.gif" data-lazy-src="two.jpg" alt="two">'
                   '<img src="blank.gif" data-original="three.jpg" alt="three">'
                   '<img src="x.gif" data-srcset="four-400.jpg 400w, four-800.jpg 800w" alt="four">'
                   '<img src="/img/blank.gif" alt="stand-in">')
    assert [i.url for i in page.images] == [
        "https://example.com/img/one.jpg", "https://example.com/blog/two.jpg",
        "https://example.com/blog/three.jpg", "https://example.com/blog/four-800.jpg"]
    assert [(d.reason, d.url) for d in page.dropped] == [("placeholder", "https://example.com/img/blank.gif")]


def test_noscript_twin_of_a_lazy_image_is_one_image():
    page = extract('<p>text</p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="a.jpg" alt="a">'
                   '<noscript><img src="a.jpg" alt="a"><p>Please enable JavaScript</p></noscript>')
    assert [i.url for i in page.images] == ["https://example.com/blog/a.jpg"]
    assert "Please enable JavaScript" not in " ".join(texts(page))


def test_picture_sources_give_the_widest_rendition():
    page = extract('<p>text</p><picture>'
                   '<source media="(max-width: 600px)" srcset="small.webp 600w">'
                   '<source srcset="large.webp 1600w, medium.webp 1000w" type="image/webp">'
                   '<img src="fallback.jpg" alt="Harbour at dusk"></picture>')
    assert [(i.url, i.alt) for i in page.images] == [("https://example.com/blog/large.webp", "Harbour at dusk")]


def test_base_href_and_relative_urls():
    html = ('<head><base href="https://cdn.example.net/assets/"></head><body><p>text</p>'
            '<img src="a.jpg" alt="a"><img src="/root.jpg" alt="b"><img src="//other.org/c.png" alt="c">'
            '<img src="../up.jpg" alt="d"><img src="javascript:void(0)" alt="e"></body>')
    page = extract(html)
    assert [i.url for i in page.images] == ["https://cdn.example.net/assets/a.jpg", "https://cdn.example.net/root.jpg",
                                            "https://other.org/c.png", "https://cdn.example.net/up.jpg"]
    assert page.dropped[0].reason == "bad_url" and page.base_url == "https://cdn.example.net/assets/"
    without_base = extract(html.replace('<base href="https://cdn.example.net/assets/">', ""))
    assert without_base.images[3].url == "https://example.com/up.jpg"


def test_data_uri_decoded_into_bytes_and_bad_one_kept_as_failed_slot():
    png = real_png()
    page = extract(f'<p>before</p><img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="inline">'
                   '<p>middle</p><img src="data:image/png;base64,@@not-base64@@" alt="broken">'
                   '<img src="data:text/plain,hello" alt="not an image"><p>after</p>')
    good, bad, not_image = page.images
    assert (good.url, good.data, good.format, good.status) == (None, png, "png", "pending")
    assert bad.status == "failed" and bad.error.startswith("bad_data_uri: base64") and bad.data is None
    assert not_image.status == "failed" and "not an image" in not_image.error
    assert flow(page) == ["before", "IMG:inline", "middle", "IMG:broken", "IMG:not an image", "after"]


def test_tracking_pixels_get_no_slot_but_a_reason():
    page = extract('<p>text</p><img src="https://stats.example.com/p.gif" width="1" height="1">'
                   '<img src="https://www.facebook.com/tr?id=1&amp;ev=PageView" alt="">'
                   '<img src="photo.jpg" width="640" height="480" alt="photo">')
    assert [i.alt for i in page.images] == ["photo"]
    assert [d.reason for d in page.dropped] == ["tracking_pixel", "tracking_pixel"]


def test_figcaption_is_the_images_caption_not_running_text():
    page = extract('<p>Intro</p><figure><img src="f.jpg" alt="A fox" title="Fox"><figcaption> Red   fox in '
                   'the snow </figcaption></figure><p>Outro</p>')
    image = page.images[0]
    assert (image.alt, image.title, image.caption, image.caption_model) == ("A fox", "Fox", "Red fox in the snow",
                                                                            "figcaption")
    assert flow(page) == ["Intro", "IMG:A fox", "Outro"]


def test_tables_and_lists_become_text_segments():
    page = extract('<h2>Specs</h2><table><caption>Sizes</caption><tr><th>Size</th><th>Price</th></tr>'
                   '<tr><td>S</td><td>10 &euro;</td></tr></table><ul><li>one</li><li>two<ul><li>nested</li></ul>'
                   '</li></ul><ol><li>first</li><li>second</li></ol>')
    tags = {s.tag: s.text for s in page.segments}
    assert tags["table"] == "Sizes\nSize | Price\nS | 10 €"
    assert tags["ul"] == "- one\n- two\n  - nested" and tags["ol"] == "1. first\n2. second"
    stripped = extract('<p>text</p><table><tr><td>a</td></tr></table><ul><li>x</li></ul>',
                       keep_tables=False, keep_lists=False)
    assert texts(stripped) == ["text"]


def test_link_lists_are_navigation():
    page = extract('<p>A paragraph of article text that is long enough to matter.</p>'
                   '<ul><li><a href="/a">Home</a></li><li><a href="/b">News</a></li>'
                   '<li><a href="/c">Sport</a></li></ul>')
    assert texts(page) == ["A paragraph of article text that is long enough to matter."]


def test_entities_whitespace_and_line_breaks_are_normalised():
    page = extract('<p>  Caf&eacute;&nbsp;&amp;\n\t bar &#x41;&#66; so\u00adft\u200bhy </p><p>line one<br>line two'
                   '<br><br> line three</p><pre>  keep\n    this</pre><p>e\u0301</p>')
    assert texts(page) == ["Café & bar AB softhy", "line one\nline two\nline three", "  keep\n    this", "é"]


def test_boilerplate_tags_and_named_widgets_are_removed():
    page = extract('<body><header><a href="/">Site</a></header><nav>Menu items</nav>'
                   '<div class="cookie-banner">We use cookies</div><main><article><header><h1>Headline</h1></header>'
                   '<p>Article body paragraph with real content in it.</p><div class="share-buttons">Share on X</div>'
                   '<aside>Related reading</aside><div id="comments"><p>First comment</p></div></article></main>'
                   '<footer>Copyright</footer><script>var x = 1;</script></body>')
    assert texts(page) == ["Headline", "Article body paragraph with real content in it."]


def test_glyph_images_stay_in_the_sentence():
    page = extract('<p>We define <img class="mwe-math-fallback-image-inline" src="/m.svg" alt="p_{ij}"> and smile '
                   '<img class="emoji" src="/e.png" alt="🙂"> today.</p>')
    assert texts(page) == ["We define p_{ij} and smile 🙂 today."] and page.images == []


def test_absurd_nesting_keeps_its_text_without_recursion_errors():
    assert texts(extract("<font>" * 3000 + "deep text")) == ["deep text"]


# -- the stage -------------------------------------------------------------------------------------

def _doc(body: bytes, content_type: str | None = "text/html; charset=utf-8") -> Document:
    headers = {"content-type": content_type} if content_type else {}
    return Document(id="0" * 24, url=PAGE_URL, source=SourceRef("crawl", "test"), raw=RawPage(body, headers))


def test_stage_rejections_have_distinct_reasons(fixtures):
    docs = [_doc(b"<p>x</p>", "image/png"), _doc((fixtures / "photos" / "img1.png").read_bytes(), None),
            _doc(b"<html><body><nav>only a menu</nav></body></html>")]
    for i, doc in enumerate(docs):
        doc.id = f"{i:024x}"
    batch = HtmlExtractor()(Batch("p", docs))
    assert batch.docs == []
    assert [(r.id, r.reason, r.level) for r in batch.rejected] == [
        (f"{0:024x}", "not_html", "document"), (f"{1:024x}", "undecodable", "document"),
        (f"{2:024x}", "no_content", "document")]
    assert batch.counts["extract_html"] == {"in": 3, "out": 0, "document:not_html": 1, "document:undecodable": 1,
                                            "document:no_content": 1}


def test_stage_fills_document_and_reports_image_problems():
    html = ('<title>T</title><p>Some text.</p><img src="data:image/png;base64,%%%" alt="bad">'
            '<img src="pixel.gif" width="1" height="1"><img src="ok.jpg" alt="ok">')
    batch = HtmlExtractor(min_text_chars=5)(Batch("p", [_doc(html.encode())]))
    (doc,) = batch.docs
    assert doc.raw is None and doc.title == "T" and [i.status for i in doc.images] == ["failed", "pending"]
    rows = [(r.level, r.reason, r.image_index, r.url) for r in batch.rejected]
    assert rows == [("image", "bad_data_uri", 0, PAGE_URL),
                    ("image", "tracking_pixel", None, "https://example.com/blog/pixel.gif")]
    validate_document(doc.to_json())
    short = HtmlExtractor(min_text_chars=100)(Batch("p", [_doc(html.encode())]))
    assert short.docs == [] and short.rejected[0].reason == "no_content" and short.rejected[0].threshold == 100


# -- the command -----------------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dataengine", "extract", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_cli_json_and_jsonl_keep_the_order_given(fixtures):
    pages = [fixtures / "html" / name for name in ("dw.com.uncork.html", "befifty.montauk.html",
                                                   "franceculture.fr.idees.html")]
    one = _cli(str(pages[0]), "--url", "https://www.dw.com/en/uncork/a-16864620")
    assert one.returncode == 0, one.stderr
    doc = json.loads(one.stdout)
    validate_document(doc)
    assert doc["url"] == "https://www.dw.com/en/uncork/a-16864620"
    assert doc["source"] == {"kind": "crawl", "uri": str(pages[0].resolve()), "offset": None, "length": None,
                             "fetch_time": None}
    assert doc["images"][0]["url"] == "https://www.dw.com/image/16864611_303.jpg"
    lines = _cli(*map(str, pages), "--format", "jsonl")
    assert lines.returncode == 0, lines.stderr
    docs = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [d["source"]["uri"] for d in docs] == [str(p.resolve()) for p in pages]
    assert docs[0]["url"] == pages[0].resolve().as_uri()


def test_cli_missing_file_is_one_line_error(tmp_path):
    result = _cli(str(tmp_path / "nope.html"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"dataengine: error: {tmp_path / 'nope.html'}: no such file"]


def test_cli_refuses_files_that_are_not_html(fixtures, tmp_path):
    (tmp_path / "data.json").write_text('{"title": "<b>not a page</b>"}')
    page = fixtures / "html" / "dw.com.uncork.html"
    result = _cli(str(REPO / "README.md"), str(page), str(tmp_path / "data.json"), "--format", "jsonl")
    assert result.returncode == 1  # it ran and found problems
    assert [json.loads(line)["source"]["uri"] for line in result.stdout.splitlines()] == [str(page.resolve())]
    assert result.stderr.splitlines() == [f"dataengine extract: {path}: not_html (it does not start with markup)"
                                          for path in (REPO / "README.md", tmp_path / "data.json")]


def test_stage_passes_documents_that_are_already_interleaved():
    from dataengine.extract.stage import HtmlExtractor
    from dataengine.stages.base import Batch
    from schemas import Document, Segment, SourceRef

    wet = Document(id="a1", url="http://x/", source=SourceRef("warc", "x.wet.gz"), segments=[Segment.of_text("hi")])
    empty = Document(id="b2", url="http://y/", source=SourceRef("warc", "y.warc.gz"))
    batch = HtmlExtractor()(Batch("p", [wet, empty]))
    assert batch.docs == [wet] and wet.segments[0].text == "hi"
    assert [(r.id, r.reason) for r in batch.rejected] == [("b2", "no_raw_page")]
