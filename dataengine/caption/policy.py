"""Which images get a caption, and when alt text is good enough to stand for one.

Sites write alt text that describes the image, or nothing, or a file name (``IMG_0042.jpg``,
``scene-0007.png``), or one generic word (``Photo``, ``image``, ``Advertisement``). Only the
first kind is usable as a description; ``usable_alt`` tells it from the rest.

Policies of the captioning stage:

- ``missing_alt``: caption the images whose alt text is not usable and that have no caption yet;
- ``all``: (re)caption every image, whatever it already has.
"""

from __future__ import annotations

import re

from schemas import ImageRecord

POLICIES = ("missing_alt", "all")
MIN_ALT_WORDS = 2
_FILE_NAME = re.compile(r"^[\w\-.@ ]*\.(jpe?g|png|gif|webp|bmp|svg|tiff?|avif|heic|ico)$", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{2,}")  # a run of two or more letters, any script
GENERIC_ALT = frozenset({
    "image", "img", "photo", "photograph", "picture", "pic", "graphic", "figure", "icon", "logo", "banner",
    "advertisement", "ad", "untitled", "placeholder", "thumbnail", "thumb", "spacer", "blank", "default",
    "null", "none", "undefined", "alt", "bild", "foto", "grafik", "imagen", "immagine",
})


def check_policy(policy: str) -> str:
    """``policy`` when it is known, else ``ValueError`` listing the known ones."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    return policy


def usable_alt(alt: str | None, min_words: int = MIN_ALT_WORDS) -> bool:
    """Whether ``alt`` describes the image: not empty, not a file name or URL, not one generic word."""
    text = (alt or "").strip()
    if not text or _FILE_NAME.match(text) or re.match(r"^(https?:|data:|/)", text, re.IGNORECASE):
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < min_words:
        return False
    return not all(w in GENERIC_ALT for w in words)


def needs_caption(image: ImageRecord, policy: str) -> bool:
    """Whether the captioning stage should caption ``image`` (which must have bytes) under ``policy``."""
    if image.status != "ok" or image.data is None:
        return False
    if policy == "all":
        return True
    return image.caption is None and not usable_alt(image.alt)


def description(image: ImageRecord) -> str | None:
    """What the image shows in words: its caption, else its alt text when usable, else None."""
    if image.caption and image.caption.strip():
        return image.caption.strip()
    if usable_alt(image.alt):
        return (image.alt or "").strip()
    return None
