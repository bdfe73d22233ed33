"""Whitespace and character normalisation of extracted text.

HTML collapses whitespace when it renders, so we do too; ``<br>`` is the only line break a
reader sees, and the walker marks it with ``LINE_BREAK`` (a private-use character no page
text should contain) so that it survives the collapsing. Entities are already decoded by
the parser; what remains is invisible characters and Unicode composition.
"""

from __future__ import annotations

import re
import unicodedata

LINE_BREAK = "\ue000"
# Soft hyphen, zero-width space, word joiner, BOM: invisible in rendering, noise to a tokenizer.
_INVISIBLE = re.compile(r"[\u00ad\u200b\u2060\ufeff]")
_BREAKS = re.compile(r" ?" + LINE_BREAK + r"[ " + LINE_BREAK + r"]*")


def normalize_text(raw: str) -> str:
    """Collapse whitespace, turn ``LINE_BREAK`` marks into newlines, drop invisible characters, NFC."""
    if raw.isprintable() and "  " not in raw:
        # Every space but " ", every invisible character and LINE_BREAK is unprintable: a text
        # that is all printable without double spaces only needs its ends trimmed. Most
        # blocks are, and two scans in C spare splitting them into words.
        text = raw.strip(" ")
    else:
        # str.split() splits on every Unicode space (and on the line separators U+0085,
        # U+2028, U+2029, which collapse too), several times faster than a regular expression.
        text = " ".join(raw.split())
        if not text.isprintable():  # a LINE_BREAK mark, an invisible character or a control
            if not text.isascii() and _INVISIBLE.search(text) is not None:
                text = " ".join(_INVISIBLE.sub("", text).split())
            if LINE_BREAK in text:
                text = _BREAKS.sub("\n", text.strip(" " + LINE_BREAK))
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def normalize_preformatted(raw: str) -> str:
    """Text of a ``<pre>``: whitespace kept, trailing spaces and blank edges trimmed."""
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")
