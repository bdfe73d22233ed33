"""Walk the main-content element in document order and emit text segments and images.

Each block element (paragraph, heading, list, table, quote, caption) becomes one text
segment tagged with its element; an image interrupts the text where it stands, so that
text and images keep their reading order. Lists and tables of plain text become one
segment each (``- item`` lines, ``cell | cell`` rows); a list or table that holds images
is a layout device, and we walk into it instead. Lists made mostly of links are
navigation that escaped the boilerplate pass, and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborNode

from schemas import ImageRecord, Segment

from .images import (
    BadDataUri,
    chosen_source,
    declared_size,
    decode_data_uri,
    image_format,
    is_placeholder_url,
    is_tracker_url,
    largest_candidate,
    pixel_size,
    resolve_url,
    srcset_candidates,
)
from .text import LINE_BREAK, normalize_preformatted, normalize_text

# Elements that end the current text block; everything else is inline and flows through.
_BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "address", "center", "details",
    "summary", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dl", "dt", "dd", "tr", "td", "th",
    "tbody", "thead", "tfoot", "caption", "figcaption", "hr", "body", "html", "hgroup", "fieldset", "legend",
})
_IGNORED_TAGS = frozenset({"_comment", "area", "track", "source", "wbr", "param"})
_MEDIA_SELECTOR = "img, picture, figure"
# Images that stand for characters inside a sentence (emoji, rendered formulas): their alt text
# is the character or the TeX source, and it stays in the sentence instead of splitting it.
_GLYPH_CLASSES = frozenset({"emoji", "wp-smiley", "mwe-math-fallback-image-inline",
                            "mwe-math-fallback-image-display", "latex", "tex", "katex-img"})
_MAX_DATA_TABLE_CELL = 500
# Deeper nesting is broken markup (thousands of unclosed <font>): its text is kept flat.
_MAX_DEPTH = 250
_DATA_URI_PREVIEW = 80
_URL_PREVIEW = 400


@dataclass(frozen=True)
class DroppedImage:
    """An image reference that got no slot in the document, and why (a rejection row to be)."""

    reason: str  # tracking_pixel | placeholder | no_image_url | bad_url
    url: str | None
    detail: str | None = None


class FlowBuilder:
    """Collects segments and images while walking a subtree; ``run`` is the entry point."""

    def __init__(self, base_url: str, allowed_schemes: frozenset[str], *, keep_tables: bool = True,
                 keep_lists: bool = True, max_link_density: float = 0.8, min_data_uri_bytes: int = 256):
        self.base_url = base_url
        self.allowed_schemes = allowed_schemes
        self.keep_tables = keep_tables
        self.keep_lists = keep_lists
        self.max_link_density = max_link_density
        self.min_data_uri_bytes = min_data_uri_bytes
        self.segments: list[Segment] = []
        self.images: list[ImageRecord] = []
        self.dropped: list[DroppedImage] = []
        self._buffer: list[str] = []
        self._block_tag = "p"
        self._caption: str | None = None
        self._seen_urls: set[str] = set()
        self._depth = 0

    def run(self, root: LexborNode) -> None:
        """Walk ``root`` and everything below it."""
        self._walk(root)
        self._flush()

    # -- text ------------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._buffer:
            text = normalize_text("".join(self._buffer))
            self._buffer = []
            if text:
                self.segments.append(Segment.of_text(text, tag=self._block_tag))

    def _emit(self, text: str, tag: str) -> None:
        self._flush()
        if text:
            self.segments.append(Segment.of_text(text, tag=tag))

    def _walk(self, node: LexborNode) -> None:
        if self._depth >= _MAX_DEPTH:
            self._buffer.append(node.text())
            return
        self._depth += 1
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self._buffer.append(child.text_content or "")
            elif tag == "br":
                self._buffer.append(LINE_BREAK)
            elif tag in _IGNORED_TAGS:
                continue
            elif tag == "img":
                self._img(child)
            elif tag == "picture":
                self._flush()
                self._picture(child)
            elif tag == "figure" or (tag == "div" and _has_class(child, "wp-caption")):
                self._figure(child)
            elif tag in ("ul", "ol"):
                self._list(child)
            elif tag == "table":
                self._table(child)
            elif tag == "pre":
                self._emit(normalize_preformatted(child.text()), "pre")
            elif tag in _BLOCK_TAGS:
                self._block(child, tag)
            else:
                self._walk(child)
        self._depth -= 1

    def _block(self, node: LexborNode, tag: str) -> None:
        self._flush()
        outer = self._block_tag
        self._block_tag = tag
        self._walk(node)
        self._flush()
        self._block_tag = outer

    def _figure(self, node: LexborNode) -> None:
        caption_node = node.css_first("figcaption, .wp-caption-text")
        caption = normalize_text(caption_node.text()) if caption_node is not None else ""
        outer = self._caption
        self._caption = caption or outer
        self._block(node, "figure")
        self._caption = outer

    # -- lists and tables ------------------------------------------------------------------

    def _link_dense(self, node: LexborNode) -> bool:
        chars = len(node.text(strip=True))
        if not chars:
            return False
        link_chars = sum(len(a.text(strip=True)) for a in node.css("a"))
        return link_chars / chars >= self.max_link_density

    def _list(self, node: LexborNode) -> None:
        if not self.keep_lists or self._link_dense(node):
            return
        if node.css_first(_MEDIA_SELECTOR) is not None or node.css_first("table") is not None:
            self._block(node, node.tag)
            return
        lines: list[str] = []
        _list_lines(node, 0, lines)
        self._emit("\n".join(lines), node.tag)

    def _table(self, node: LexborNode) -> None:
        if node.css_first(_MEDIA_SELECTOR) is not None or len(node.css("table")) > 1:
            self._block(node, "table")  # a layout table: its cells are blocks of the page
            return
        if not self.keep_tables or self._link_dense(node):
            return
        rows = []
        for row in node.css("caption, tr"):
            cells = [_inline_text(cell) for cell in row.iter() if cell.tag in ("td", "th")] \
                if row.tag == "tr" else [_inline_text(row)]
            if any(len(cell) > _MAX_DATA_TABLE_CELL for cell in cells):
                self._block(node, "table")  # prose laid out in a table, not data
                return
            cells = [cell for cell in cells if cell]
            if cells:
                rows.append(" | ".join(cells))
        self._emit("\n".join(rows), "table")

    # -- images ----------------------------------------------------------------------------

    def _img(self, node: LexborNode) -> None:
        attrs = node.attributes
        if _GLYPH_CLASSES.intersection((attrs.get("class") or "").split()):
            self._buffer.append(f" {attrs.get('alt') or ''} ")
            return
        self._flush()
        self._add_image(attrs, chosen_source(attrs))

    def _picture(self, node: LexborNode) -> None:
        img = node.css_first("img")
        attrs = img.attributes if img is not None else {}
        candidates = [c for source in node.css("source") for c in srcset_candidates(source.attributes)]
        candidates += srcset_candidates(attrs)
        widest = largest_candidate([c for c in candidates if c[1] > 0])
        own = chosen_source(attrs)
        if widest is None and (own is None or own.lower().startswith("data:")):
            widest = largest_candidate(candidates)
        self._add_image(attrs, widest or own)

    def _drop(self, reason: str, url: str | None, detail: str | None = None) -> None:
        self.dropped.append(DroppedImage(reason, url, detail))

    def _add_image(self, attrs: dict[str, str | None], raw: str | None) -> None:
        if raw is None:
            self._drop("no_image_url", None, "no src, srcset or lazy-load attribute")
            return
        is_data = raw[:5].lower() == "data:"
        url = None if is_data else resolve_url(raw, self.base_url, self.allowed_schemes)
        if not is_data and url is None:
            self._drop("bad_url", raw[:_URL_PREVIEW], "not an http(s) URL after resolving")
            return
        width, height = declared_size(attrs.get("width")), declared_size(attrs.get("height"))
        if (width is not None and width <= 2) or (height is not None and height <= 2):
            self._drop("tracking_pixel", url or raw[:_DATA_URI_PREVIEW], f"declared size {width}x{height}")
            return
        data = fmt = error = None
        if is_data:
            try:
                decoded = decode_data_uri(raw)
            except BadDataUri as exc:
                error = f"bad_data_uri: {exc}"
            else:
                size = pixel_size(decoded.data)
                if len(decoded.data) < self.min_data_uri_bytes or (size and min(size) <= 2):
                    self._drop("placeholder", raw[:_DATA_URI_PREVIEW],
                               f"data: image of {len(decoded.data)} bytes, size {size}")
                    return
                data, fmt = decoded.data, image_format(decoded.mime)
        elif is_tracker_url(url):
            self._drop("tracking_pixel", url, "known counting-pixel service")
            return
        elif is_placeholder_url(url):
            self._drop("placeholder", url, "lazy-load stand-in file name")
            return
        elif url in self._seen_urls:
            return  # the same picture again (a lazy image's <noscript> twin): one slot
        else:
            self._seen_urls.add(url)
        index = len(self.images)
        caption = self._caption or None
        self.images.append(ImageRecord(
            index=index, url=url, alt=_clean_attr(attrs.get("alt")), title=_clean_attr(attrs.get("title")),
            caption=caption, caption_model="figcaption" if caption else None, format=fmt,
            status="failed" if error else "pending", error=error, data=data))
        self.segments.append(Segment.of_image(index))


def _has_class(node: LexborNode, name: str) -> bool:
    value = node.attributes.get("class")
    return bool(value) and name in value.split()


def _clean_attr(value: str | None) -> str | None:
    if not value:
        return None
    return normalize_text(value) or None


def _collect(node: LexborNode, out: list[str], nested_lists: list[LexborNode] | None, depth: int = 0) -> None:
    if depth >= _MAX_DEPTH:
        out.append(node.text())
        return
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            out.append(child.text_content or "")
        elif tag == "br":
            out.append(LINE_BREAK)
        elif tag in ("ul", "ol") and nested_lists is not None:
            nested_lists.append(child)
        elif tag in _IGNORED_TAGS:
            continue
        elif tag in _BLOCK_TAGS:
            out.append(LINE_BREAK)
            _collect(child, out, nested_lists, depth + 1)
            out.append(LINE_BREAK)
        else:
            _collect(child, out, nested_lists, depth + 1)


def _inline_text(node: LexborNode) -> str:
    """The text of a table cell or list item on one line."""
    out: list[str] = []
    _collect(node, out, None)
    return normalize_text("".join(out).replace(LINE_BREAK, " "))


def _list_lines(node: LexborNode, depth: int, lines: list[str]) -> None:
    if depth >= _MAX_DEPTH:
        return
    number = 0
    for item in node.iter():
        if item.tag in ("ul", "ol"):  # a list directly inside a list, as sloppy pages write it
            _list_lines(item, depth + 1, lines)
            continue
        nested: list[LexborNode] = []
        out: list[str] = []
        _collect(item, out, nested)
        text = normalize_text("".join(out).replace(LINE_BREAK, " "))
        if text:
            number += 1
            marker = f"{number}." if node.tag == "ol" else "-"
            lines.append(f"{'  ' * depth}{marker} {text}")
        for sub in nested:
            _list_lines(sub, depth + 1, lines)
