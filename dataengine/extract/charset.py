"""Turn a page's bytes into text: BOM, valid UTF-8, HTTP header, ``<meta>``, then sniffing.

The order differs slightly from a browser's on purpose. A byte-order mark is definitive.
Next, bytes that are valid UTF-8 and not plain ASCII are UTF-8 whatever the page declares:
legacy single- and double-byte text almost never forms valid UTF-8 by chance, while pages
that declare ``gb2312`` or ``iso-8859-1`` in a template but were saved as UTF-8 are common.
Only then do the declarations count (header before ``<meta>``), each accepted if it
decodes the bytes with at most a handful of errors, and last the content is sniffed with
charset-normalizer. Labels map to the codecs browsers use for them (WHATWG Encoding
Standard): ``gb2312`` pages really are GBK, ``iso-8859-1`` pages really are windows-1252.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

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
}
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.I)
_META_SCAN_BYTES = 4096
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# A declared charset still wins when only a few bytes are off (a cut multi-byte character, a
# stray byte from a template): one error per this many characters is tolerated.
_TOLERATED_ERROR_EVERY = 2000


class UndecodableError(ValueError):
    """The bytes are not text in any encoding that can be established (binary, or no fit)."""


@dataclass(frozen=True)
class DecodedHtml:
    """The page text, the codec that produced it, and what told us (``bom``, ``utf-8``,
    ``header``, ``meta`` or ``sniffed``)."""

    text: str
    encoding: str
    source: str


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


def _decode_tolerant(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        pass
    text = body.decode(codec, errors="replace")
    if text.count("\ufffd") <= max(1, len(text) // _TOLERATED_ERROR_EVERY):
        return text
    return None


def _declarations(body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    found = [(header_charset(content_type), "header"), (meta_charset(body), "meta")]
    return [(label, source) for label, source in found if label]


def decode_html(body: bytes, content_type: str | None = None) -> DecodedHtml:
    """Decode page bytes; raise ``UndecodableError`` when they are binary or fit no encoding."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return DecodedHtml(body.decode(codec, errors="replace"), codec.removesuffix("-sig"), "bom")
    if b"\x00" in body[:_META_SCAN_BYTES]:
        raise UndecodableError("NUL bytes in the first 4 KiB without a UTF-16/32 byte-order mark: binary content")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Valid UTF-8 is UTF-8; a declaration only names it (or, for pure ASCII, agrees with it).
        for label, source in _declarations(body, content_type):
            codec = codec_for(label, from_meta=source == "meta")
            if codec == "utf-8" or (codec and text.isascii()):
                return DecodedHtml(text, codec, source)
            break
        return DecodedHtml(text, "utf-8", "utf-8")
    for label, source in _declarations(body, content_type):
        codec = codec_for(label, from_meta=source == "meta")
        if codec and (text := _decode_tolerant(body, codec)) is not None:
            return DecodedHtml(text, codec, source)
    best = charset_normalizer.from_bytes(body).best()
    if best is None or best.encoding is None:
        raise UndecodableError("not valid UTF-8, no usable charset declaration, and no encoding fits the bytes")
    codec = codec_for(best.encoding) or best.encoding
    return DecodedHtml(body.decode(codec, errors="replace"), codec, "sniffed")
