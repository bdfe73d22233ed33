"""Which images of the main content are its pictures, and which are page furniture.

``judge_images`` applies all of this to the images of the main content. An image that made
it into the main content can still be an icon (a zoom glass, a rating
star), a logo, an avatar, a separator, a theme graphic or the thumbnail of a teaser for
another page. Each is told by signals that hold across sites:

- size: a declared width or height under 64 pixels is an icon; a declared aspect ratio of
  5:1 or more is a rule, a ribbon or a banner;
- words: class, id and file name words such as ``logo``, ``icon``, ``avatar``, ``sprite``,
  ``button`` (``Hither-Hills-Star-Park.jpg`` is a picture: alt text is not read, since it
  describes what the picture shows);
- place: files under a theme's, template's or design's own folders (``/themes/``,
  ``/skin/``, ``/images/common/``) are the design, not the content;
- links: a picture linked to another page is a teaser when the nearest text of its box is a
  linked headline (a card), when it has no alt text, or when it sits in a row of such linked
  pictures (a grid of logos or products); a picture linked to itself, to a larger rendition,
  to an anchor or to its own page (a gallery's attachment page, named after the file) is content.
"""

from __future__ import annotations

import re
from collections import Counter

from .blocks import Box, ImageRef, Item
from .boilerplate import MEDIA, word_set
from .content import LINK_BLOCK_SHARE
from .images import declared_size, join_url, url_path

# A file shown this many times on one page is a background or a placeholder.
_REPEATS = 3
# Declared sides under this many pixels are icons.
_MIN_SIDE = 64
_PIXEL = 2
_MAX_ASPECT = 5.0
_FURNITURE_WORDS = frozenset({
    "logo", "logos", "icon", "icons", "ico", "favicon", "avatar", "avatars", "gravatar", "sprite", "sprites",
    "badge", "badges", "button", "buttons", "btn", "emoji", "smiley", "smilies", "spinner", "loader", "loading",
    "arrow", "arrows", "rating", "stars", "social",
    "share", "sharing", "pinit", "pin-it", "qr", "qrcode", "signature", "signatur", "separator", "divider",
    "bullet", "bg", "background", "video", "poster", "stern",
})
_THEME_DIRS = frozenset({"themes", "theme", "templates", "template", "skin", "skins", "design", "common"})
# A teaser card: the image's box or an ancestor up to this many levels holding at most
# _CARD_TEXTS blocks of text and _CARD_CHARS characters.
_CARD_LEVELS = 3
_CARD_TEXTS = 6
_CARD_CHARS = 500
_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|bmp|tiff?)$", re.I)
_FILE_WORDS = re.compile(r"[a-z]+")
# Size and edit markers WordPress and others add to a file name ("-300x200", "-e1560792012225").
_SIZE_MARKER = re.compile(r"(?:-\d+x\d+|-e\d{10,}|@\dx|-scaled)+$")
# File name stems shorter than this say too little to find in a link.
_MIN_STEM = 6


def judge_images(items: list[Item], page_items: list[Item], page_url: str) -> None:
    """Clear ``keep`` on the images of ``items`` (the main content) that are not its pictures:
    furniture, teasers, a file the main content shows three times or more (a background, a
    placeholder), and a gallery repeating an earlier one picture for picture (the strip of
    thumbnails under a slider: same alt texts in the same order, other files)."""
    uses = Counter(item.image.raw for item in items if item.image is not None)
    galleries: dict[int, list[Item]] = {}
    for index, item in enumerate(items):
        ref = item.image
        if ref is None or not item.keep:
            continue
        if uses[ref.raw] >= _REPEATS or is_furniture(ref, ref.raw) \
                or is_teaser(ref, page_url, items, index, page_items):
            item.keep = False
        elif (gallery := _gallery_of(item.box)) is not None:
            galleries.setdefault(id(gallery), []).append(item)
    seen: set[tuple[str, ...]] = set()
    for pictures in galleries.values():
        alts = tuple((item.image.attrs.get("alt") or "").strip() for item in pictures)
        if len(alts) >= 2 and all(alts) and alts in seen:
            for item in pictures:
                item.keep = False
        seen.add(alts)


def _gallery_of(box: Box | None) -> Box | None:
    """The innermost gallery or slider box around ``box``, if any."""
    while box is not None and box.kind != MEDIA:
        box = box.parent
    return box


def is_furniture(ref: ImageRef, url: str | None) -> bool:
    """Whether the image is an icon, logo, avatar, separator or theme graphic rather than a picture."""
    attrs = ref.attrs
    width, height = declared_size(attrs.get("width")), declared_size(attrs.get("height"))
    if (width is not None and width <= _PIXEL) or (height is not None and height <= _PIXEL):
        return False  # a tracking pixel, which ``flow`` reports as such
    if (width is not None and width < _MIN_SIDE) or (height is not None and height < _MIN_SIDE):
        return True
    if width and height and max(width / height, height / width) >= _MAX_ASPECT:
        return True
    if not _FURNITURE_WORDS.isdisjoint(word_set(attrs.get("class"))) \
            or not _FURNITURE_WORDS.isdisjoint(word_set(attrs.get("id"))):
        return True
    if url is None:
        return False
    directories, _, name = url_path(url).lower().rpartition("/")
    # Words never cross a "/": the words of all directories are found in one pass.
    if not _THEME_DIRS.isdisjoint(_FILE_WORDS.findall(directories)) or "template" in directories \
            or "theme" in directories:
        return True
    stem = name.rsplit(".", 1)[0]
    # "logo" is glued to other words in file names ("printlogo", "logo_white") more than any other
    return "logo" in stem or not _FURNITURE_WORDS.isdisjoint(_FILE_WORDS.findall(stem))


def is_teaser(ref: ImageRef, page_url: str, items: list[Item], index: int, page_items: list[Item]) -> bool:
    """Whether the image is the thumbnail of a link to another page: a teaser card, a banner,
    one of a grid of linked logos. Gallery thumbnails linked to their own pages are content."""
    if not _links_elsewhere(ref, page_url):
        return False
    if _linked_headline_near(page_items, items[index].box):
        return True
    if not (ref.attrs.get("alt") or "").strip():
        return True
    return any(0 <= n < len(items) and items[n].image is not None and _links_elsewhere(items[n].image, page_url)
               for n in (index - 1, index + 1))


def _links_elsewhere(ref: ImageRef, page_url: str) -> bool:
    """Whether the image sits in a link to another page: not to a rendition of itself, an
    anchor, this page, or the image's own page (a gallery's attachment page: named after the
    file, or ``?attachment_id=``)."""
    href = (ref.href or "").strip()
    if not href or href.startswith("#"):
        return False
    target = join_url(page_url, href)
    if target is None:
        return False  # not a URL: a link to nowhere
    path = url_path(target).lower()
    if _IMAGE_FILE.search(path) or target.split("#", 1)[0] == page_url.split("#", 1)[0]:
        return False
    if "attachment_id=" in target:
        return False
    stem = _SIZE_MARKER.sub("", url_path(ref.raw or "").rsplit("/", 1)[-1].rsplit(".", 1)[0].lower())
    page = path.rstrip("/").rsplit("/", 1)[-1]
    own = page == stem or (page.startswith(stem) and page[len(stem):].lstrip("-").isdigit())
    return len(stem) < _MIN_STEM or not own


def _linked_headline_near(page_items: list[Item], box: Box) -> bool:
    """Whether the image's card (the smallest box around it, three levels up at most, holding
    a few short blocks of text) has a block that is mostly link text: the card's title."""
    for _ in range(_CARD_LEVELS):
        texts = [item for item in page_items[box.first:box.end] if item.text is not None]
        if texts:
            if len(texts) > _CARD_TEXTS or sum(item.chars for item in texts) > _CARD_CHARS:
                return False
            return any(item.chars and item.link_chars >= LINK_BLOCK_SHARE * item.chars for item in texts)
        if box.parent is None:
            return False
        box = box.parent
    return False
