"""Hostile and broken pages: stateful 7-bit encodings, UTF-7, damaged UTF-8, absurd nesting.

Each such page is either extracted correctly or rejected with a reason (and the measured
value against its threshold); none is stored garbled, and none takes the job's time.
"""

from __future__ import annotations

import pytest

from dataengine.extract import ExtractConfig, RefusedCharsetError, TooComplexError, decode_html, extract_page
from dataengine.extract.stage import HtmlExtractor
from dataengine.stages.base import Batch
from schemas import Document, RawPage, SourceRef

PAGE_URL = "https://example.com/hostile.html"
JAPANESE = "日本語の文章です。" * 20
GERMAN = "Grüße aus Köln, schöne Straße am Rhein. " * 100


def _run(body: bytes, content_type: str | None = None, **params) -> Batch:
    headers = {"content-type": content_type} if content_type else {}
    doc = Document(id="0" * 24, url=PAGE_URL, source=SourceRef("crawl", "test"), raw=RawPage(body, headers))
    return HtmlExtractor(**params)(Batch("p", [doc]))


def _page(body_html: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><p>{body_html}</p></body></html>"


def _text(batch: Batch) -> str:
    (doc,) = batch.docs
    return doc.text


# -- stateful 7-bit encodings and UTF-7 ------------------------------------------------------------

@pytest.mark.parametrize("head", ['<meta charset="iso-2022-jp">', ""], ids=["declared", "undeclared"])
def test_iso_2022_jp_is_decoded_not_kept_as_escape_codes(head):
    body = _page(JAPANESE, head).encode("iso2022_jp")
    assert body.isascii()  # the trap: 7-bit bytes that are also valid UTF-8
    decoded = decode_html(body)
    assert decoded.encoding.startswith("iso2022_jp") and JAPANESE in decoded.text
    text = _text(_run(body))
    assert text == JAPANESE and "\x1b" not in text


def test_iso_2022_jp_declared_in_the_header_is_decoded():
    body = _page(JAPANESE).encode("iso2022_jp")
    assert _text(_run(body, "text/html; charset=ISO-2022-JP")) == JAPANESE


def test_utf7_page_is_refused_with_a_reason():
    body = _page(JAPANESE, '<meta charset="utf-7">').encode("utf-7")
    with pytest.raises(RefusedCharsetError):
        decode_html(body)
    batch = _run(body)
    assert batch.docs == []
    (row,) = batch.rejected
    assert row.reason == "refused_charset" and "utf-7" in row.detail.lower()


def test_utf7_label_on_a_page_it_does_not_change_is_harmless():
    body = _page("Plain English words, nothing encoded in them at all.", '<meta charset="utf-7">').encode()
    assert _text(_run(body)) == "Plain English words, nothing encoded in them at all."


# -- damaged UTF-8 ---------------------------------------------------------------------------------

def _with_stray_bytes(data: bytes, count: int) -> bytes:
    """``data`` with ``count`` lone 0xff / 0xc3 bytes spread through its second half."""
    out = bytearray(data)
    step = len(data) // (2 * count + 2)
    for n in range(count):
        at = len(data) // 2 + n * step
        while out[at] >= 0x80:  # never inside a multi-byte character: a stray byte, not a cut one
            at += 1
        out.insert(at, 0xFF if n % 2 else 0xC3)
    return bytes(out)


@pytest.mark.parametrize("head,content_type", [
    ('<meta charset="utf-8">', None), ("", None), ("", "text/html; charset=windows-1252")],
    ids=["declared-utf8", "undeclared", "declared-cp1252"])
def test_utf8_with_a_few_stray_bytes_is_utf8_with_replacements_and_flagged(head, content_type):
    body = _with_stray_bytes(_page(GERMAN, head).encode(), 3)
    batch = _run(body, content_type)
    text = _text(batch)
    assert "Grüße aus Köln" in text and "Ã" not in text and "Ă" not in text
    assert text.count("\ufffd") == 3
    (doc,) = batch.docs
    assert doc.scores["invalid_bytes_share"] == pytest.approx(3 / len(text))


def test_utf8_with_heavy_damage_is_rejected_with_value_and_threshold():
    body = _with_stray_bytes(_page(GERMAN).encode(), 60)
    batch = _run(body, max_invalid_bytes_share=0.005)
    assert batch.docs == []
    (row,) = batch.rejected
    assert row.reason == "invalid_bytes" and row.threshold == 0.005 and row.value > 0.005


def test_clean_pages_carry_no_damage_score():
    (doc,) = _run(_page(GERMAN).encode()).docs
    assert "invalid_bytes_share" not in doc.scores


def test_legacy_bytes_mislabelled_utf8_still_decode_as_legacy():
    body = _page(GERMAN, '<meta charset="utf-8">').encode("cp1252")
    (doc,) = _run(body).docs
    assert "Grüße aus Köln" in doc.text and "\ufffd" not in doc.text


# -- absurd structure ------------------------------------------------------------------------------

def _too_complex(batch: Batch):
    assert batch.docs == []
    (row,) = batch.rejected
    assert row.reason == "too_complex"
    return row


def test_hundred_thousand_nested_divs_are_rejected_as_too_complex():
    n = 100_000
    body = ("<html><body>" + "<div>" * n + "deep text " * 5 + "</div>" * n + "</body></html>").encode()
    row = _too_complex(_run(body))
    assert row.value >= n and row.threshold == HtmlExtractor().config.max_depth and "depth" in row.detail


@pytest.mark.parametrize("tag", ["div", "span", "font"])
def test_hundreds_of_thousands_of_unclosed_tags_are_rejected_as_too_complex(tag):
    body = ("<html><body>" + f"<{tag}>a sentence of some thirty chars" * 300_000).encode()
    row = _too_complex(_run(body))
    assert row.value >= 300_000 and "depth" in row.detail


def test_depth_and_element_budgets_are_parameters():
    deep = ("<html><body>" + "<section>" * 300 + "Some text that is long enough." + "</section>" * 300).encode()
    row = _too_complex(_run(deep, max_depth=200))
    assert row.threshold == 200 and row.value >= 300
    with pytest.raises(TooComplexError) as raised:
        extract_page(deep, PAGE_URL, config=ExtractConfig(max_depth=200))
    assert (raised.value.measure, raised.value.value, raised.value.threshold) == ("depth", row.value, 200)
    assert _text(_run(deep)) == "Some text that is long enough."
    flat = ("<html><body>" + "<p>Paragraph of a long flat page.</p>" * 3000).encode()
    row = _too_complex(_run(flat, max_elements=2000))
    assert row.threshold == 2000 and row.value >= 3000 and "elements" in row.detail
    assert len(_run(flat).docs) == 1


def test_unclosed_paragraphs_list_items_and_cells_are_not_depth():
    # Legacy markup that never closes <p>, <li>, <td> or <tr> is flat for a parser, and for the budget.
    body = ("<html><body>" + "<p>para" * 3000 + "<ul>" + "<li>item" * 3000 + "</ul><table>"
            + "<tr><td>a<td>b" * 3000 + "</table><b>bold</b>" + "<a href=x>link" * 3000).encode()
    assert len(_run(body, max_depth=50).docs) == 1


def test_markup_inside_scripts_and_comments_is_not_depth():
    script = "<script>var s = '" + "<div>" * 3000 + "';</script>"
    comment = "<!-- " + "<div>" * 3000 + " -->"
    body = ("<html><body>" + script + comment + "<p>Real text of the page, long enough.</p>").encode()
    assert _text(_run(body, max_depth=50)) == "Real text of the page, long enough."


# -- URLs that are not URLs ------------------------------------------------------------------------

def test_unparseable_urls_in_base_links_and_images_do_not_stop_the_page():
    # An unclosed IPv6 bracket or a host that normalises to "#" makes urllib raise ValueError.
    prose = "A paragraph of the article, long enough to be the main content of the page. " * 5
    body = ('<html><head><base href="http://[broken/"></head><body><article>'
            f'<p>{prose}</p>'
            '<a href="http://[broken/page"><img src="/pictures/harbour.jpg" alt="Harbour" width="800" height="600"></a>'
            '<img src="http://[broken/x.jpg" width="800" height="600">'
            '<img src="http://a\uff03b/x.jpg" width="800" height="600">'
            '</article></body></html>').encode()
    page = extract_page(body, PAGE_URL)
    assert [image.url for image in page.images] == ["https://example.com/pictures/harbour.jpg"]
    assert [(d.reason, d.url) for d in page.dropped] == [("bad_url", "http://[broken/x.jpg"),
                                                          ("bad_url", "http://a\uff03b/x.jpg")]


@pytest.mark.parametrize("width", ["²", "9" * 5000, "1e999"], ids=["superscript", "5000-digits", "exponent"])
def test_junk_image_sizes_are_no_sizes(width):
    # "²" passes str.isdigit() and int() refuses it, as it refuses strings of over 4,300 digits.
    prose = "A paragraph of the article, long enough to be the main content of the page. " * 5
    body = (f'<html><body><article><p>{prose}</p><img src="/pictures/harbour.jpg" width="{width}">'
            '</article></body></html>').encode()
    assert [image.url for image in extract_page(body, PAGE_URL).images] == ["https://example.com/pictures/harbour.jpg"]


@pytest.mark.parametrize("nesting", ["<ul>", "<ol><li><ol>", "<figure>", "<ul><li><p><ul>"],
                         ids=["lists-in-lists", "numbered-items", "figures", "lists-in-paragraphs"])
def test_nesting_under_the_depth_budget_keeps_the_walk_inside_the_recursion_limit(nesting):
    # 4,000 levels pass the default budget (max_depth 5000); the walk keeps deeper levels flat.
    prose = "A paragraph of the article, long enough to be the main content of the page. " * 5
    body = f"<html><body><article><p>{prose}</p>{nesting * (4000 // nesting.count('<'))}end</article></body></html>"
    page = extract_page(body.encode(), PAGE_URL)
    assert page.segments[0].text == prose.strip()
