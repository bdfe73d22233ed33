"""Decide what inside the page is boilerplate: whole boxes first, then single blocks.

Boxes: a box named as a control (menu, share bar, widget) goes unless it holds prose; one
named as metadata (byline, dates, tags, credits) likewise; a form that asks the reader for
input goes unless it wraps most of the page (ASP.NET pages wrap the whole body in one);
a list or table made mostly of links is navigation. A box holding the page's landmark
(``main``, the ``h1``) never goes. What is inside a box that goes, goes with it.

Blocks: a block that is mostly link text is a teaser, a "read more" or a link list (a
link inside a sentence does not make it one); a block that is mostly text of elements named
as metadata, or a short line that is a date, is about the article, not of it, and so is a
short line that reads as a credit, a see-also lead or a call to subscribe (``phrases``); a caption
belongs to its image (``ImageRecord.caption``), not to the running text; and a short
heading with nothing kept under it titled a box that went ("Related articles", "Comments").
"""

from __future__ import annotations

import re

from .blocks import HEADING_TAGS, Box, Item, PageBlocks
from .boilerplate import CONTROL, META
from .content import LINK_BLOCK_SHARE, lead_start
from .figures import judge_images
from .phrases import is_boilerplate_line

# A <form> holding more than this share of the page's text is a layout wrapper.
_WRAPPER_TEXT_SHARE = 0.6
_MIN_CONTENT_FORM_CHARS = 200
# This many paragraphs of prose make a box named as a control part of the content.
_PROSE_PARAGRAPHS = 2
# ... or when prose is at least this share of its text (a lead paragraph called "teaser-text").
_PROSE_SHARE = 0.5
# Boxes of one class, each holding a link and at most this much other text, are teaser cards
# when there are at least _CARDS of them.
_CARD_TEXT_CHARS = 300
_CARDS = 2
# A block with at least this share in elements named as metadata (byline, date) is metadata.
_META_BLOCK_SHARE = 0.5
# A line this short holding a date or a time is a dateline.
_DATELINE_CHARS = 50
_DATE = re.compile(
    r"\b\d{1,2}\.\s?\d{1,2}\.\s?(?:\d{4}|\d{2})\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
    r"|\b\d{1,2}:\d{2}\b|\b\d{1,2}\.?\s+\w{3,}\.?,?\s+\d{4}\b|\b[^\W\d]{3,}\.?\s+\d{1,2},?\s+\d{4}\b")
# A line this short, not ended like a sentence, right before a box that went is its title.
_LEAD_IN_CHARS = 60
_SENTENCE_ENDS = frozenset(".!?\"»“”)")
# Headings longer than this are pull quotes or leads set in heading type, not section titles.
_SECTION_TITLE_CHARS = 80
# Boxes judged by their tag whatever their class (``_is_boilerplate``).
_JUDGED_TAGS = frozenset({"form", "ul", "ol", "table"})


def judge_boxes(blocks: PageBlocks, max_link_density: float) -> None:
    """Set ``dropped`` on boxes that are boilerplate and ``dead`` on them and everything inside."""
    page_chars = blocks.root.chars
    cards: dict[tuple[str, str], list[Box]] = {}
    for box in blocks.boxes:
        # Most boxes are plain wrappers, which nothing here drops: they spare the call.
        box.dropped = (box.kind is not None or box.tag in _JUDGED_TAGS) and not box.protected \
            and _is_boilerplate(box, page_chars, max_link_density)
        if not box.dropped and box.cls and box.link_blocks and box.chars - box.link_chars < _CARD_TEXT_CHARS:
            cards.setdefault((box.tag, box.cls), []).append(box)
    for group in cards.values():
        if len(group) >= _CARDS:
            for box in group:
                box.dropped = not box.protected
    for box in blocks.boxes:
        box.dead = box.dropped or (box.parent is not None and box.parent.dead)


def _is_boilerplate(box: Box, page_chars: int, max_link_density: float) -> bool:
    if box.kind == CONTROL or box.kind == META:
        return box.prose < _PROSE_PARAGRAPHS
    if box.tag == "form":
        return box.chars <= _WRAPPER_TEXT_SHARE * page_chars and (box.interactive
                                                                  or box.chars < _MIN_CONTENT_FORM_CHARS)
    if box.tag in ("ul", "ol", "table"):
        return box.chars > 0 and box.link_chars >= max_link_density * box.chars
    return False


def content_items(blocks: PageBlocks, container: Box, page_url: str) -> list[Item]:
    """The items of ``container`` that are content: boilerplate boxes, links, metadata,
    datelines, captions, the titles of emptied sections and page furniture among the
    images (``figures``) left out. ``page_url`` tells links to the page itself from others."""
    items = blocks.items[lead_start(blocks, container):container.end]
    for item in items:
        item.keep = not item.box.dead and (item.text is None or item.group is not None
                                           or not _is_boilerplate_block(item))
    # A short title-like line right before a box or block that went introduced it ("Read more:").
    for i in range(len(items) - 1):
        item, following = items[i], items[i + 1]
        if item.keep and item.text is not None and item.group is None and not following.keep \
                and (following.text is not None or following.box.dead) \
                and item.chars <= _LEAD_IN_CHARS and item.text[-1] not in _SENTENCE_ENDS and item.tag != "pre":
            item.keep = False
    judge_images(items, blocks.items, page_url)
    headings = [i for i, item in enumerate(items) if item.keep and item.text is not None
                and item.tag in HEADING_TAGS and item.chars < _SECTION_TITLE_CHARS]
    for i in reversed(headings):  # the last first: a sub-heading's verdict counts for its parent
        level = items[i].tag
        items[i].keep = False
        for later in items[i + 1:]:
            if later.text is not None and later.tag in HEADING_TAGS and later.tag <= level \
                    and later.chars < _SECTION_TITLE_CHARS:
                break
            if later.keep:
                items[i].keep = True
                break
    return [item for item in items if item.keep]


def _is_boilerplate_block(item: Item) -> bool:
    if item.tag == "figcaption" or item.link_chars >= LINK_BLOCK_SHARE * item.chars \
            or item.meta_chars >= _META_BLOCK_SHARE * item.chars or is_boilerplate_line(item.text):
        return True
    return item.chars <= _DATELINE_CHARS and item.tag not in HEADING_TAGS and item.tag != "pre" \
        and _DATE.search(item.text) is not None
