"""The walk over a parsed page that builds its ``PageBlocks`` (see ``blocks``), in one pass in Python.

The walk skips what is never content (scripts, forms' controls), page chrome (``nav``,
``aside``, ``footer``, a ``header`` outside the article, chrome roles), hidden elements and
elements whose class or id names a section that is never the article; an element that
holds the page's main landmark is never skipped. Elements named as controls or as
metadata are kept as boxes with their kind, for ``prune`` to judge once their text is known;
those too short to hold prose, and menus, are measured without being walked.
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .blocks import BLOCK_TAGS, MAX_DEPTH, UNRESOLVED, Box, ImageRef, Item, PageBlocks
from .boilerplate import (
    ARTICLE_TAGS,
    CAPTION,
    CHROME_ROLES,
    CHROME_TAGS,
    CONTROL,
    META,
    NON_CONTENT_TAGS,
    SECTION,
    class_kind,
    is_hidden,
)
from .images import chosen_source, largest_candidate, srcset_candidates
from .tables import data_rows, is_layout_table
from .text import LINE_BREAK, normalize_preformatted, normalize_text

_LANDMARK_SELECTOR = "main, [role=main], [itemprop=articleBody], h1"
# Images that stand for characters inside a sentence (emoji, rendered formulas): their alt text
# is the character or the TeX source, and it stays in the sentence instead of splitting it.
_GLYPH_CLASSES = frozenset({"emoji", "wp-smiley", "mwe-math-fallback-image-inline",
                            "mwe-math-fallback-image-display", "latex", "tex", "katex-img"})
# Inline elements that, without attributes, only carry text on.
_PLAIN_INLINE = frozenset({"span", "b", "strong", "i", "em", "u", "font", "small", "big", "sup", "sub", "abbr",
                           "code", "mark", "q", "s", "strike", "del", "ins", "cite", "dfn", "kbd", "samp", "var",
                           "tt", "nobr", "bdi", "bdo"})
# Blocks that end a text block but need no box of their own unless their class names something.
_LEAF_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "tr", "tbody", "thead", "tfoot",
                        "caption", "figcaption", "hr", "summary", "legend", "address", "hgroup"})
# Text shorter than this cannot hold the two paragraphs of prose that keep a control or
# metadata box (``prune``).
_PROSE_MIN = 160
# A <noscript> with this much text is the page for readers without scripts, not a notice.
_NOSCRIPT_PAGE_CHARS = 200
# Attributes that cannot hide an element or make it chrome: most elements carry only these.
_PLAIN_ATTRS = frozenset({"class", "id", "href", "src", "title", "alt", "width", "height", "lang", "dir", "name",
                          "target", "rel", "srcset", "sizes", "loading", "datetime", "colspan", "rowspan"})
_INTERACTIVE_FORM_SELECTOR = "textarea, input[type=email], input[type=password], input[type=search]"


def _hidden_or_chrome(tag: str, attrs: dict[str, str | None]) -> bool:
    """Whether attributes hide the element or give it a chrome role (navigation, banner, comment)."""
    return is_hidden(tag, attrs) or attrs.get("role") in CHROME_ROLES or attrs.get("itemprop") == "comment"


def _link_chars(node: LexborNode) -> int:
    """Characters of the element's link text (text nodes stripped, as ``text(strip=True)`` counts them)."""
    return sum(len(link.text(strip=True)) for link in node.css("a"))


def _landmark_holders(body: LexborNode) -> set[LexborNode]:
    """The page's main landmarks and every element that holds one: found with one query for
    the page, since the walk asks about an element each time it would skip one."""
    holders: set[LexborNode] = set()
    for node in body.css(_LANDMARK_SELECTOR):
        while node is not None and node not in holders:
            holders.add(node)
            node = node.parent
    return holders


class Walker:
    """Builds ``PageBlocks`` from a parsed page; ``walk`` is the entry point."""

    def __init__(self, *, keep_tables: bool = True, keep_lists: bool = True, max_link_density: float = 0.8) -> None:
        self.keep_tables = keep_tables
        self.keep_lists = keep_lists
        self.max_link_density = max_link_density
        self._buffer: list[str] = []
        self._link_chars = self._meta_chars = 0
        self._link_depth = self._meta_depth = 0
        self._href: str | None = None  # the target of the innermost link being walked
        self._block_tag = "p"
        self._box: Box | None = None
        self._in_article = False
        self._depth = 0
        # Inside a list item: nested blocks are words of one line, lines go to the list's group.
        self._group: Box | None = None
        self._line: str | None = None
        self._list_depth = 0
        self._blocks: PageBlocks | None = None
        self._landmarks: set[LexborNode] = set()

    def walk(self, tree: LexborHTMLParser) -> PageBlocks | None:
        """Walk the page's ``<body>``; ``None`` when it has none."""
        body = tree.body
        if body is None:
            return None
        root = Box("body", None, None, 0, "")
        self._box = root
        self._blocks = PageBlocks(root)
        self._landmarks = _landmark_holders(body)
        self._walk(body)
        self._flush()
        root.end = len(self._blocks.items)
        return self._blocks

    # -- text ------------------------------------------------------------------------------

    def _flush(self) -> None:
        if not self._buffer:
            return
        raw = "".join(self._buffer)
        self._buffer.clear()  # in place: the walk holds the list in a local
        text = normalize_text(raw) if not raw.isspace() else ""
        if text:
            chars = len(text)
            self._blocks.items.append(Item(text, self._block_tag, self._box, chars, min(self._link_chars, chars),
                                           min(self._meta_chars, chars), self._group, self._line))
            if self._line is not None:  # what follows in the same list item is a continuation line
                self._line = "  " * self._list_depth
        self._link_chars = self._meta_chars = 0

    def _add_text(self, text: str) -> None:
        self._buffer.append(text)
        if self._link_depth or self._meta_depth:
            n = len(text.strip())
            if self._link_depth:
                self._link_chars += n
            if self._meta_depth:
                self._meta_chars += n

    def _emit(self, text: str, tag: str) -> None:
        self._flush()
        if text:
            self._blocks.items.append(Item(text, tag, self._box, len(text)))

    # -- the walk --------------------------------------------------------------------------

    def _walk(self, node: LexborNode) -> None:
        if self._depth >= MAX_DEPTH:
            self._add_text(node.text())
            return
        self._depth += 1
        buffer = self._buffer
        counting = self._link_depth or self._meta_depth
        child = node.first_child  # first_child/next: cheaper than iter() on the hottest loop
        while child is not None:
            tag = child.tag
            if tag == "-text":
                if child.is_empty_text_node:  # ASCII whitespace only, told without copying it out
                    # Whitespace that would open a block is trimmed anyway; dropping it
                    # here spares flushing the indentation between most block elements.
                    if buffer:
                        buffer.append(" ")
                elif counting:
                    self._add_text(child.text_content)
                else:
                    buffer.append(child.text_content)
            elif tag in _PLAIN_INLINE:
                attrs = child.attributes
                if attrs:
                    self._child(child, tag, attrs)
                else:
                    self._walk(child)  # <b>, <em>, <span> without attributes: nothing to judge
            elif tag not in NON_CONTENT_TAGS and tag is not None:
                self._child(child, tag, None if tag == "br" else child.attributes)
            child = child.next
        self._depth -= 1

    def _child(self, child: LexborNode, tag: str, attrs: dict[str, str | None] | None) -> None:
        """Dispatch one element (``attrs``: its attributes, ``None`` for ``<br>``): skip it, or
        walk it as a block, a list, a table, an image or inline."""
        if tag == "br":
            self._buffer.append(" " if self._group is not None else LINE_BREAK)
            return
        kind = None
        if attrs:
            if tag == "img":
                self._img(child, attrs)
                return
            if not _PLAIN_ATTRS.issuperset(attrs) and _hidden_or_chrome(tag, attrs) and child not in self._landmarks:
                return
            kind = class_kind(attrs.get("class"))
            if kind is None and tag in BLOCK_TAGS:  # ids of inline elements are anchors, not names
                kind = class_kind(attrs.get("id"))
            if kind == SECTION and child not in self._landmarks:
                return
            # A control or metadata element too short to hold prose goes whatever it holds
            # (``prune`` would drop it): it stands in the flow as an empty box, unwalked.
            if (kind == CONTROL or kind == META) and tag in BLOCK_TAGS and child not in self._landmarks:
                chars = len(child.text(strip=True))
                if chars < _PROSE_MIN:
                    self._skip(tag, kind, attrs, chars, _link_chars(child) if chars else 0)
                    return
        if (tag in CHROME_TAGS or (tag == "header" and not self._in_article)) and child not in self._landmarks:
            return
        if tag in _LEAF_TAGS and kind is None and self._group is None:
            self._leaf(child, tag)
        elif tag in BLOCK_TAGS:
            self._element(child, tag, kind, attrs)
        elif tag == "img":
            self._img(child, attrs)
        elif tag == "picture":
            self._picture(child)
        elif tag == "a":
            self._link_depth += 1
            outer_href = self._href
            self._href = (attrs.get("href") or "") if attrs else ""
            self._inline(child, kind)
            self._href = outer_href
            self._link_depth -= 1
        elif kind is None and tag != "time":
            self._walk(child)
        else:
            self._inline(child, kind)

    def _leaf(self, node: LexborNode, tag: str) -> None:
        """A paragraph, heading or cell-like block: a text boundary of its own, without a box."""
        if self._buffer:  # the check spares a call at most block boundaries, where nothing is pending
            self._flush()
        outer = self._block_tag
        # Blocks inside a caption are the caption ("<figcaption><p>...</p></figcaption>").
        self._block_tag = "figcaption" if outer == "figcaption" else tag
        self._walk(node)
        if self._buffer:
            self._flush()
        self._block_tag = outer

    def _inline(self, node: LexborNode, kind: str | None) -> None:
        # Text of inline elements named as metadata, controls or captions (a byline, a "share"
        # link, a photo credit) counts against its block; pictures inside them (a linked photo) are still pictures.
        if kind == META or kind == CONTROL or kind == CAPTION or node.tag == "time":
            self._meta_depth += 1
            self._walk(node)
            self._meta_depth -= 1
        else:
            self._walk(node)

    def _element(self, node: LexborNode, tag: str, kind: str | None, attrs: dict[str, str | None]) -> None:
        walk = _BLOCK_WALKS.get(tag)
        if walk is not None:
            walk(self, node, tag, kind, attrs)
        elif tag == "div" and "wp-caption" in (attrs.get("class") or "") \
                and "wp-caption" in attrs["class"].split():
            self._box_walk(node, "figure", kind, attrs)
        elif self._group is not None:
            self._buffer.append(" ")  # a block inside a list item: words of the same line
            self._walk(node)
            self._buffer.append(" ")
        else:
            self._box_walk(node, tag, kind, attrs)

    def _list_item(self, node: LexborNode, tag: str, kind: str | None, attrs: dict[str, str | None]) -> None:
        if self._group is None:  # an <li> outside a list is a block like any other
            self._box_walk(node, tag, kind, attrs)
            return
        self._flush()
        self._line = f"{'  ' * self._list_depth}- "
        self._walk(node)
        self._flush()

    def _pre(self, node: LexborNode, tag: str, kind: str | None, attrs: dict[str, str | None]) -> None:
        self._emit(normalize_preformatted(node.text()), "pre")

    def _noscript(self, node: LexborNode, tag: str, kind: str | None, attrs: dict[str, str | None]) -> None:
        # Parsed with scripting off, <noscript> holds the plain <img> of a lazy-loaded picture
        # (kept: it may be the only real URL) and notices about JavaScript (not content);
        # on pages that script their content in, it holds the page itself, for readers without it.
        if len(node.text(strip=True)) >= _NOSCRIPT_PAGE_CHARS:
            self._box_walk(node, "div", kind, attrs)
        else:
            for img in node.css("img"):
                self._img(img, img.attributes)

    def _open(self, tag: str, kind: str | None, attrs: dict[str, str | None]) -> Box:
        if self._buffer:
            self._flush()
        box = Box(tag, kind, self._box, len(self._blocks.items), (attrs.get("class") or "") if attrs else "")
        self._blocks.boxes.append(box)
        self._box = box
        return box

    def _skip(self, tag: str, kind: str | None, attrs: dict[str, str | None], chars: int, link_chars: int) -> None:
        """Stand in for an element not walked: an empty box holding one empty block with the
        element's measured text and link text, so boxes around it add up as if it had been walked."""
        box = self._open(tag, kind, attrs)
        self._blocks.items.append(Item("", "", box, chars, link_chars))
        self._close(box)

    def _close(self, box: Box) -> None:
        if self._buffer:
            self._flush()
        box.end = len(self._blocks.items)
        self._box = box.parent

    def _box_walk(self, node: LexborNode, tag: str, kind: str | None, attrs: dict[str, str | None]) -> None:
        box = self._open(tag, kind, attrs)
        landmark = tag == "main" or (bool(attrs) and (attrs.get("role") == "main"
                                                      or attrs.get("itemprop") == "articleBody"))
        box.protected = landmark  # ``content.tally`` adds the boxes holding a landmark or an h1
        box.semantic = landmark or tag == "article"
        if tag == "form":
            box.interactive = node.css_first(_INTERACTIVE_FORM_SELECTOR) is not None
        outer_tag, outer_article = self._block_tag, self._in_article
        self._block_tag = "figcaption" if (kind == CAPTION and tag != "figure") or outer_tag == "figcaption" else tag
        self._in_article = outer_article or tag in ARTICLE_TAGS or (bool(attrs) and attrs.get("role") == "main")
        self._walk(node)
        self._close(box)
        self._block_tag, self._in_article = outer_tag, outer_article
        if tag == "figure":
            # The figure's caption (its figcaption, or a block named as a caption) captions its
            # pictures that no inner figure captioned.
            inside = self._blocks.items[box.first:box.end]
            caption = next((item.text for item in inside if item.text and item.tag == "figcaption"), None)
            if caption:
                for item in inside:
                    if item.image is not None and item.image.caption is None:
                        item.image.caption = caption

    # -- lists and tables ------------------------------------------------------------------

    def _list(self, node: LexborNode, tag: str, kind: str | None, attrs: dict[str, str | None]) -> None:
        if not self.keep_lists:
            self._flush()
            return
        if self._depth >= MAX_DEPTH:  # lists nested in lists recurse here, not through ``_walk``
            self._add_text(node.text())
            return
        if self._group is None:
            chars = len(node.text(strip=True))
            link_chars = _link_chars(node) if chars else 0
            if chars and link_chars >= self.max_link_density * chars:
                # A menu: ``prune`` would drop it for its links, so it is measured in C, not walked.
                self._skip(tag, kind, attrs, chars, link_chars)
                return
        box = self._open(tag, kind, attrs)
        outer = (self._group, self._line, self._list_depth, self._block_tag)
        nested = self._group is not None
        self._group = self._group if nested else box
        self._list_depth = self._list_depth + 1 if nested else 0
        self._block_tag = self._group.tag
        number = 0
        self._depth += 1
        for child in node.iter(include_text=True):
            ctag = child.tag
            if ctag == "li":
                cattrs = child.attributes
                if cattrs and (is_hidden("li", cattrs) or class_kind(cattrs.get("class")) == SECTION):
                    continue
                self._flush()
                number += 1
                marker = f"{number}." if tag == "ol" else "-"
                self._line = f"{'  ' * self._list_depth}{marker} "
                self._walk(child)
                self._flush()
            elif ctag in ("ul", "ol"):
                self._list(child, ctag, None, child.attributes)
            elif ctag == "-text":
                self._add_text(child.text_content or "")
            elif ctag not in NON_CONTENT_TAGS and ctag is not None:
                self._line = self._line or f"{'  ' * self._list_depth}- "
                self._child(child, ctag, child.attributes)
        self._depth -= 1
        self._group, self._line, self._list_depth, self._block_tag = outer
        self._close(box)

    def _table(self, node: LexborNode, tag: str, kind: str | None, attrs: dict[str, str | None]) -> None:
        if self._group is not None or is_layout_table(node):
            self._box_walk(node, "table", kind, attrs)  # its cells are blocks of the page
            return
        if not self.keep_tables:
            self._flush()
            return
        rows = data_rows(node)
        if rows is None:
            self._box_walk(node, "table", kind, attrs)  # prose laid out in a table, not data
            return
        if not rows:
            return
        box = self._open("table", kind, attrs)
        text_chars = sum(len(r) for r in rows)
        link_chars = sum(len(a.text(strip=True)) for a in node.css("a"))
        share = min(1.0, link_chars / text_chars) if text_chars else 0.0
        for row in rows:
            self._blocks.items.append(Item(row, "table", box, len(row), int(len(row) * share), group=box, line=""))
        self._close(box)

    # -- images ----------------------------------------------------------------------------

    def _img(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if _GLYPH_CLASSES.intersection((attrs.get("class") or "").split()):
            self._buffer.append(f" {attrs.get('alt') or ''} ")
            return
        self._image(attrs, UNRESOLVED)

    def _picture(self, node: LexborNode) -> None:
        img = node.css_first("img")
        attrs = img.attributes if img is not None else {}
        candidates = [c for source in node.css("source") for c in srcset_candidates(source.attributes)]
        candidates += srcset_candidates(attrs)
        widest = largest_candidate([c for c in candidates if c[1] > 0])
        own = chosen_source(attrs)
        if widest is None and (own is None or own.lower().startswith("data:")):
            widest = largest_candidate(candidates)
        self._image(attrs, widest or own)

    def _image(self, attrs: dict[str, str | None], raw: str | None | object) -> None:
        self._flush()
        ref = ImageRef(attrs, raw, None, self._href)
        self._blocks.items.append(Item(None, "img", self._box, group=self._group, image=ref))


# Blocks with a walk of their own; other blocks are boxes walked alike (``Walker._element``).
_BLOCK_WALKS = {"ul": Walker._list, "ol": Walker._list, "li": Walker._list_item, "table": Walker._table,
                "pre": Walker._pre, "noscript": Walker._noscript, "figure": Walker._box_walk}
