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
_SPACES = re.compile(r"[ \t\n\r\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# Soft hyphen, zero-width space, word joiner, BOM: invisible in rendering, noise to a tokenizer.
_INVISIBLE = re.compile(r"[\u00ad\u200b\u2060\ufeff]")
_BREAKS = re.compile(r" ?" + LINE_BREAK + r"[ " + LINE_BREAK + r"]*")


def normalize_text(raw: str) -> str:
    """Collapse whitespace, turn ``LINE_BREAK`` marks into newlines, drop invisible characters, NFC."""
    text = _SPACES.sub(" ", raw)
    if not text.isascii():
        text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    if LINE_BREAK in text:
        text = _BREAKS.sub("\n", text.strip(" " + LINE_BREAK))
    return text.strip()


def normalize_preformatted(raw: str) -> str:
    """Text of a ``<pre>``: whitespace kept, trailing spaces and blank edges trimmed."""
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")
