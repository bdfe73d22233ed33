"""Hostile and broken pages: stateful 7-bit encodings, UTF-7, damaged UTF-8.

Each such page is either extracted correctly or rejected with a reason (and the measured
value against its threshold); none is stored garbled.
"""

from __future__ import annotations

import pytest

from dataengine.extract import UndecodableError, decode_html, extract_page
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
    with pytest.raises(UndecodableError):
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
