"""What the walk over a parsed page yields: its blocks of text and images in reading order, and the boxes around them.

An *item* is one block of text (a paragraph, a heading, a list item, a table row, a
caption) or one image. A *box* is a block-level element that holds items (a ``div``, a
list, a table, a ``figure``); every item knows its innermost box and every box its parent,
which is all the later passes need: finding the main content (``content``), deciding what
inside it is boilerplate (``prune``) and writing the segments (``flow``). Walking the tree
once (``walker``) and then working on these small records is several times cheaper than
querying the parsed tree again for every decision.
"""

from __future__ import annotations

from .images import chosen_source

# Elements that end the current text block; everything else is inline and flows through.
BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "address", "center", "details", "summary",
    "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dl", "dt", "dd", "tr", "td", "th", "tbody", "thead",
    "tfoot", "caption", "figcaption", "hr", "hgroup", "fieldset", "legend", "form", "figure", "ul", "ol", "table",
    "pre", "nav", "aside", "body", "html", "noscript",
})
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Deeper nesting is broken markup (thousands of unclosed <font>): the walk keeps its text flat. Real
# pages nest a few dozen elements deep; each level costs the walk up to five Python frames,
# and this keeps it well inside Python's recursion limit.
MAX_DEPTH = 150
UNRESOLVED = object()  # an image source not worked out yet


class Box:
    """A block-level element: its tag, what its class/id names (``kind``), its parent, the
    range ``[first, end)`` of items inside it, and totals over those items that later passes fill in."""

    __slots__ = ("tag", "kind", "parent", "first", "end", "cls", "interactive", "protected", "semantic",
                 "chars", "link_chars", "link_blocks", "votes", "prose", "prose_chars", "best", "dropped", "dead")

    def __init__(self, tag: str, kind: str | None, parent: Box | None, first: int, cls: str) -> None:
        self.tag = tag
        self.kind = kind
        self.parent = parent
        self.first = first
        self.end = first
        self.cls = cls  # the class attribute: boxes of one kind of widget share it
        self.interactive = False  # a form asking the reader for input
        self.protected = False  # is or holds the page's main landmark (main, role=main, articleBody, h1)
        self.semantic = False  # article, main, role=main, itemprop=articleBody
        self.chars = self.link_chars = self.link_blocks = self.votes = 0
        self.prose = self.prose_chars = 0
        self.best: Box | None = None  # the child box with the most votes
        self.dropped = False  # judged boilerplate itself
        self.dead = False  # dropped, or inside a dropped box


class ImageRef:
    """An image as written in the page: its attributes, the raw source chosen among
    ``src``/``srcset``/lazy-load attributes (worked out on first use: most images of a page
    are never looked at), the caption of its figure, and the target of the link around it
    (``href``, ``None`` outside links)."""

    __slots__ = ("attrs", "_raw", "caption", "href")

    def __init__(self, attrs: dict[str, str | None], raw: str | None | object, caption: str | None,
                 href: str | None) -> None:
        self.attrs, self._raw, self.caption, self.href = attrs, raw, caption, href

    @property
    def raw(self) -> str | None:
        """The raw (unresolved) source of the picture, or ``None``."""
        if self._raw is UNRESOLVED:
            self._raw = chosen_source(self.attrs)
        return self._raw


class Item:
    """A block of text (``text`` set) or an image (``image`` set), with its box.

    ``group`` is the list or data table a line belongs to (its lines become one segment), and
    ``line`` the line's prefix (``- ``, ``2. `` with indentation) or ``None``.
    """

    __slots__ = ("text", "tag", "box", "chars", "link_chars", "meta_chars", "group", "line", "image", "keep")

    def __init__(self, text: str | None, tag: str, box: Box, chars: int = 0, link_chars: int = 0,
                 meta_chars: int = 0, group: Box | None = None, line: str | None = None,
                 image: ImageRef | None = None) -> None:
        self.text, self.tag, self.box = text, tag, box
        self.chars, self.link_chars, self.meta_chars = chars, link_chars, meta_chars
        self.group, self.line, self.image = group, line, image
        self.keep = True


class PageBlocks:
    """The outcome of the walk: items in reading order and boxes in document order (parents first)."""

    def __init__(self, root: Box) -> None:
        self.root = root
        self.items: list[Item] = []
        self.boxes: list[Box] = [root]
