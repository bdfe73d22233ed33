"""Find the box that holds the page's main content.

Every text block votes for its boxes with its length less its link text, so menus of
links weigh nothing and short lines (under 20 characters) not at all; blocks inside boxes
judged boilerplate (``prune.judge_boxes``) do not vote. From ``<body>`` we walk down,
always into the child box holding the most votes, as long as it still holds most of the
page's votes: we stop at the smallest box that contains the bulk of the article. If that
box sits inside an ``<article>``, ``<main>`` or ``articleBody`` that adds little, we climb
back up to it, since the difference is usually the headline, the lead image and its caption.
Where no such element encloses them, the headline, lead paragraphs and lead image just
before the chosen box are taken in all the same (``lead_start``).
"""

from __future__ import annotations

from .blocks import Box, PageBlocks

_MIN_VOTING_CHARS = 20
# A block with at least this share of its characters in links is a link, not text.
LINK_BLOCK_SHARE = 0.6
# A paragraph this long with little link text is prose; boxes count them.
_PROSE_CHARS = 80
_PROSE_LINK_SHARE = 0.3
# Walk down only while the child keeps this share of the page's votes.
_DESCEND_SHARE = 0.75
# Climb to an enclosing article/main when it adds at most this factor of votes.
_CLIMB_FACTOR = 1.5
# The lead is looked for inside enclosing boxes with at most this factor of the container's votes.
_LEAD_AREA_FACTOR = 1.3
_LEAD_HEADINGS = frozenset({"h1", "h2", "h3"})


def tally(blocks: PageBlocks) -> None:
    """Fill every box's ``chars``, ``link_chars``, ``link_blocks`` (blocks that are links) and
    ``prose`` / ``prose_chars`` (paragraphs of prose) with the totals of the items inside it."""
    for item in blocks.items:
        if item.text is None:
            continue
        box = item.box
        if item.tag == "h1":
            box.protected = True
        box.chars += item.chars
        box.link_chars += item.link_chars
        if item.chars and item.link_chars >= LINK_BLOCK_SHARE * item.chars:
            box.link_blocks += 1
        if item.chars >= _PROSE_CHARS and item.link_chars <= _PROSE_LINK_SHARE * item.chars \
                and item.group is None and item.tag in ("p", "div", "blockquote", "article", "section", "dd", "td"):
            box.prose += 1
            box.prose_chars += item.chars
    for box in reversed(blocks.boxes):  # boxes are in document order: children come after parents
        parent = box.parent
        if parent is not None:
            parent.chars += box.chars
            parent.link_chars += box.link_chars
            parent.link_blocks += box.link_blocks
            parent.prose += box.prose
            parent.prose_chars += box.prose_chars
            parent.protected = parent.protected or box.protected


def vote(blocks: PageBlocks) -> None:
    """Fill every box's ``votes`` (the weight of the live items inside it) and ``best`` child."""
    for box in blocks.boxes:
        box.votes = 0
        box.best = None
    for item in blocks.items:
        if item.text is not None and not item.box.dead:
            weight = item.chars - item.link_chars
            if weight >= _MIN_VOTING_CHARS:
                item.box.votes += weight
    for box in reversed(blocks.boxes):
        parent = box.parent
        if parent is not None and box.votes:
            parent.votes += box.votes
            if parent.best is None or box.votes > parent.best.votes:
                parent.best = box


def main_box(blocks: PageBlocks) -> Box:
    """The box holding the page's main content (the root when no box stands out)."""
    root = blocks.root
    total = root.votes
    chosen = root
    while chosen.best is not None and chosen.best.votes >= _DESCEND_SHARE * total:
        chosen = chosen.best
    limit = _CLIMB_FACTOR * chosen.votes
    best = chosen
    ancestor = chosen.parent
    while ancestor is not None and ancestor is not root and ancestor.votes <= limit:
        if ancestor.semantic:
            best = ancestor
        ancestor = ancestor.parent
    return best


def lead_start(blocks: PageBlocks, container: Box) -> int:
    """Where the main content starts: the container's first item, or earlier when the
    headline, lead paragraphs or lead image sit just before it in an enclosing box that adds
    little text (the container was chosen for the bulk of the text, which the lead is not)."""
    limit = _LEAD_AREA_FACTOR * container.votes
    area = container
    while area.parent is not None and area.parent is not blocks.root and area.parent.votes <= limit:
        area = area.parent
    first = container.first
    for i in range(container.first - 1, area.first - 1, -1):
        item = blocks.items[i]
        if item.box.dead:
            continue
        if item.text is not None and item.tag not in _LEAD_HEADINGS and (
                item.chars < _PROSE_CHARS or item.link_chars >= _PROSE_LINK_SHARE * item.chars):
            break  # a byline, a date, a teaser: the lead ends here
        first = i
    return first
