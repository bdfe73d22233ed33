"""Turn a page's bytes into text: BOM, valid UTF-8, HTTP header, ``<meta>``, then sniffing.

The order differs slightly from a browser's on purpose. A byte-order mark is definitive.
Next, bytes that are valid UTF-8 and not plain ASCII are UTF-8 whatever the page declares:
legacy single- and double-byte text almost never forms valid UTF-8 by chance, while pages
that declare ``gb2312`` or ``iso-8859-1`` in a template but were saved as UTF-8 are common.
The same holds for bytes that are *mostly* valid UTF-8 (a stray byte from a template, a
cut character): they are UTF-8 with U+FFFD where the bytes are invalid, and ``errors``
counts those, so that the damage can be judged instead of turning the page into
mojibake. Pure 7-bit bytes may still be a stateful encoding: ISO-2022 escape sequences
name theirs (ESC never occurs in text), and a declared UTF-7 that would change the text is
refused as browsers refuse it (it hides markup from filters). Only then do the
declarations count (header before ``<meta>``), each accepted if it decodes the bytes with
at most a handful of errors, and last the content is sniffed with charset-normalizer.
Labels map to the codecs browsers use for them (WHATWG Encoding Standard): ``gb2312``
pages really are GBK, ``iso-8859-1`` pages really are windows-1252.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace

import charset_normalizer

# WHATWG maps these labels onto supersets; decoding with the narrow codec fails on real pages.
_SUPERSET_CODECS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
    "chinese": "gb18030", "csgb2312": "gb18030", "iso-ir-58": "gb18030",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252",
    "ascii": "cp1252", "us-ascii": "cp1252", "iso-8859-9": "cp1254", "latin5": "cp1254",
    "tis-620": "cp874", "iso-8859-11": "cp874", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "windows-31j": "cp932", "big5": "big5hkscs", "x-mac-roman": "mac-roman",
    # WHATWG's ISO-2022-JP decoder also reads half-width katakana (ESC ( I); Python's narrow codec does not.
    "iso-2022-jp": "iso2022_jp_ext", "csiso2022jp": "iso2022_jp_ext",
}
# Stateful encodings written in 7-bit bytes: pure-ASCII bytes are not ASCII text under them.
_SEVEN_BIT_CODECS = frozenset({"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3",
                               "iso2022_jp_ext", "iso2022_kr", "hz"})
# Designation escapes that only ISO-2022 text contains, and the codec that reads it.
_ISO2022_ESCAPES = ((re.compile(rb"\x1b(?:\$[@B]|\$\(D|\([BIJ])"), "iso2022_jp_ext"),
                    (re.compile(rb"\x1b\$\)C"), "iso2022_kr"))
# Bytes that are not valid UTF-8 are still UTF-8 (with damage) when at least this share of
# their non-ASCII characters decode: legacy CJK text forms valid UTF-8 by chance for about a
# fifth of them (at most 0.24 on the fixture pages), single-byte text almost never.
_UTF8_MAJORITY = 0.5
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.I)
_META_SCAN_BYTES = 4096
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# A declared charset still wins when only a few bytes are off (a cut multi-byte character, a
# stray byte from a template): one error per this many characters is tolerated.
_TOLERATED_ERROR_EVERY = 2000


class UndecodableError(ValueError):
    """The bytes are not text in any encoding that can be established (binary, or no fit).

    ``reason`` is the rejection reason a stage records for it.
    """

    reason = "undecodable"


class RefusedCharsetError(UndecodableError):
    """The page is in an encoding that browsers refuse to decode (UTF-7)."""

    reason = "refused_charset"


@dataclass(frozen=True)
class DecodedHtml:
    """The page text, the codec that produced it, what told us (``bom``, ``utf-8``,
    ``header``, ``meta`` or ``sniffed``), and ``errors``: the U+FFFD in a text that could only
    be decoded by replacing invalid byte sequences with them (0 when the bytes were valid)."""

    text: str
    encoding: str
    source: str
    errors: int = 0


def codec_for(label: str, *, from_meta: bool = False) -> str | None:
    """The Python codec for a charset label as browsers read it, or ``None`` if unusable."""
    label = label.strip().lower()
    name = _SUPERSET_CODECS.get(label, label)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13 and friends
        return None
    if from_meta and info.name.startswith(("utf-16", "utf-32")):
        return "utf-8"  # a <meta> readable as ASCII cannot be in UTF-16; browsers read UTF-8
    return info.name


def header_charset(content_type: str | None) -> str | None:
    """The ``charset=`` label of a Content-Type header value, if any."""
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return match.group(1) if match else None


def meta_charset(body: bytes) -> str | None:
    """The charset declared by ``<meta charset>`` or ``http-equiv`` near the start of the page."""
    match = _META_CHARSET.search(body, 0, _META_SCAN_BYTES)
    return match.group(1).decode("ascii", "replace") if match else None


def _decode_counting(body: bytes, codec: str) -> DecodedHtml:
    """``body`` in ``codec``, with the number of invalid byte sequences that became U+FFFD."""
    try:
        return DecodedHtml(body.decode(codec), codec, "")
    except UnicodeDecodeError:
        text = body.decode(codec, errors="replace")
        return DecodedHtml(text, codec, "", errors=text.count("\ufffd"))


def _decode_tolerant(body: bytes, codec: str, source: str) -> DecodedHtml | None:
    decoded = _decode_counting(body, codec)
    if decoded.errors > max(1, len(decoded.text) // _TOLERATED_ERROR_EVERY):
        return None
    return replace(decoded, source=source)


def _declarations(body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    found = [(header_charset(content_type), "header"), (meta_charset(body), "meta")]
    return [(label, source) for label, source in found if label]


def _escape_codec(body: bytes) -> str | None:
    for pattern, codec in _ISO2022_ESCAPES:
        if pattern.search(body):
            return codec
    return None


def _first_declaration(body: bytes, content_type: str | None) -> tuple[str, str | None, str] | None:
    """``(label, codec, source)`` of the declaration that names bytes which are valid UTF-8: the first."""
    declared = _declarations(body, content_type)
    if not declared:
        return None
    label, source = declared[0]
    return label, codec_for(label, from_meta=source == "meta"), source


def _decode_seven_bit(body: bytes, ascii_text: str, declared: tuple[str, str | None, str] | None) -> DecodedHtml:
    """Pure 7-bit bytes: ASCII text, unless a declaration or ISO-2022 escapes name a stateful encoding."""
    label, codec, source = declared or (None, None, "utf-8")
    if codec == "utf-7":
        if body.decode("utf-7", errors="replace") != ascii_text:
            raise RefusedCharsetError(f"declared {label!r} ({source}) and its shifted runs would change the "
                                      "text: UTF-7 is refused, as browsers refuse it (those runs can hide markup)")
        return DecodedHtml(ascii_text, codec, source)
    stateful = codec if codec in _SEVEN_BIT_CODECS else _escape_codec(body)
    if stateful is None:
        return DecodedHtml(ascii_text, codec, source) if codec else DecodedHtml(ascii_text, "utf-8", "utf-8")
    decoded = _decode_tolerant(body, stateful, source if stateful == codec else "sniffed")
    if decoded is None:
        raise UndecodableError(f"7-bit bytes with {stateful} shifts that do not decode as {stateful}")
    return decoded


def decode_html(body: bytes, content_type: str | None = None) -> DecodedHtml:
    """Decode page bytes; raise ``UndecodableError`` when they are binary or fit no encoding
    (``RefusedCharsetError`` when they are in an encoding browsers refuse)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return replace(_decode_counting(body, codec), encoding=codec.removesuffix("-sig"), source="bom")
    if b"\x00" in body[:_META_SCAN_BYTES]:
        raise UndecodableError("NUL bytes in the first 4 KiB without a UTF-16/32 byte-order mark: binary content")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        declared = _first_declaration(body, content_type)
        if text.isascii():
            return _decode_seven_bit(body, text, declared)
        # Valid UTF-8 is UTF-8; a declaration only names it.
        return DecodedHtml(text, "utf-8", declared[2] if declared and declared[1] == "utf-8" else "utf-8")
    lossy = _decode_counting(body, "utf-8")
    non_ascii = len(lossy.text) - len(lossy.text.encode("ascii", errors="ignore"))
    if non_ascii - lossy.errors >= _UTF8_MAJORITY * non_ascii:
        return replace(lossy, source="utf-8")
    for label, source in _declarations(body, content_type):
        codec = codec_for(label, from_meta=source == "meta")
        if codec and (decoded := _decode_tolerant(body, codec, source)) is not None:
            return decoded
    best = charset_normalizer.from_bytes(body).best()
    if best is None or best.encoding is None:
        raise UndecodableError("not valid UTF-8, no usable charset declaration, and no encoding fits the bytes")
    return replace(_decode_counting(body, codec_for(best.encoding) or best.encoding), source="sniffed")
