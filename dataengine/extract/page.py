"""``extract_page``: page bytes in, the interleaved main content out. A pure function.

The pipeline stage and the ``dataengine extract`` command both call it. It decodes the
bytes (``charset``), checks the markup against the complexity budget (``budget``), parses
it with lexbor and reads the title, ``<html lang>`` and ``<base href>``. One walk (``walker``,
with ``tables``) turns the body into blocks of text, images and the boxes around them
(``blocks``); the main box is found from their votes (``content``); boxes and blocks that
are boilerplate are left out (``prune``, with ``phrases``) and so are images that are
furniture or teasers (``figures``); what is left becomes text segments and image records in
reading order (``flow``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from schemas import ImageRecord, Segment

from .budget import check_budget
from .charset import decode_html
from .content import main_box, tally, vote
from .flow import DroppedImage, FlowBuilder
from .images import join_url
from .prune import content_items, judge_boxes
from .text import normalize_text
from .walker import Walker

_WEB_SCHEMES = frozenset({"http", "https"})


@dataclass
class ExtractConfig:
    """Parameters of extraction (the ``extract_html`` stage's YAML keys)."""

    min_text_chars: int = 1  # fewer characters of main-content text: the page has no content
    keep_tables: bool = True  # data tables as "cell | cell" rows; False drops them
    keep_lists: bool = True  # lists as "- item" lines; False drops them
    max_link_density: float = 0.8  # lists/tables whose text is at least this share links are navigation
    min_data_uri_bytes: int = 256  # smaller data: images are lazy-load placeholders, not pictures
    # Markup budget, checked before parsing; deeper or larger pages are too_complex. Parse time
    # grows with depth times elements: at both limits a page costs about 2.5 s of CPU, twice a
    # flat page of the same size. Real pages nest a few dozen elements deep (browsers build no
    # deeper than 512), broken ones of thousands of unclosed <font> still extract well.
    max_depth: int = 5000
    max_elements: int = 100_000  # start tags; ten times the largest of the fixture pages
    # Main text of a page whose bytes were invalid in its encoding may hold at most this share of
    # U+FFFD: a few stray bytes pass (and are scored), a page pasted from another encoding does not.
    max_invalid_bytes_share: float = 0.002


@dataclass
class ExtractedPage:
    """What ``extract_page`` found: metadata, segments in reading order, images, and the
    image references it dropped (``dropped``: tracking pixels, placeholders, unusable URLs)."""

    title: str | None
    lang: str | None  # the <html lang> hint, as written
    base_url: str  # what relative links were resolved against
    encoding: str
    encoding_source: str  # bom | utf-8 | header | meta | sniffed
    decode_errors: int = 0  # invalid byte sequences in the page, decoded as U+FFFD
    segments: list[Segment] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    dropped: list[DroppedImage] = field(default_factory=list)

    @property
    def text_chars(self) -> int:
        """Characters of text in the segments."""
        return sum(len(s.text or "") for s in self.segments if s.kind == "text")

    @property
    def replacement_share(self) -> float:
        """Share of the text's characters that are U+FFFD (0.0 for no text)."""
        chars = self.text_chars
        replaced = sum((s.text or "").count("\ufffd") for s in self.segments if s.kind == "text")
        return replaced / chars if chars else 0.0


def _title(tree: LexborHTMLParser) -> str | None:
    # Both live in <head>; searching only there spares a scan of the whole page.
    head = tree.head or tree
    og = head.css_first('meta[property="og:title"], meta[name="og:title"]')
    if og is not None and (value := normalize_text(og.attributes.get("content") or "")):
        return value
    node = head.css_first("title") or tree.css_first("title")
    return (normalize_text(node.text()) or None) if node is not None else None


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    node = (tree.head or tree).css_first("base[href]")
    if node is not None:
        href = (node.attributes.get("href") or "").strip()
        resolved = join_url(url, href) if href else None
        if resolved is not None and urlsplit(resolved).scheme.lower() in (_WEB_SCHEMES | {"file"}):
            return resolved
    return url


def extract_page(body: bytes, url: str, headers: dict[str, str] | None = None,
                 config: ExtractConfig | None = None) -> ExtractedPage:
    """Extract the main content of an HTML page served from ``url``.

    ``headers`` are the HTTP response headers with lower-case names (``content-type`` gives
    the charset). Raises ``charset.UndecodableError`` when the bytes are not text, and
    ``budget.TooComplexError`` when the markup is over ``config``'s budget.
    """
    config = config or ExtractConfig()
    decoded = decode_html(body, (headers or {}).get("content-type"))
    check_budget(decoded.text, config.max_depth, config.max_elements)
    # lexbor parses UTF-8 bytes; handing it the page's own bytes when they are UTF-8 spares
    # encoding the decoded text back (a BOM or invalid bytes need the decoded text).
    utf8 = decoded.encoding == "utf-8" and decoded.errors == 0 and decoded.source != "bom"
    tree = LexborHTMLParser(body if utf8 else decoded.text)
    html = tree.root
    lang = (html.attributes.get("lang") or html.attributes.get("xml:lang") or "").strip() or None \
        if html is not None else None
    page = ExtractedPage(title=_title(tree), lang=lang, base_url=_base_url(tree, url),
                         encoding=decoded.encoding, encoding_source=decoded.source,
                         decode_errors=decoded.errors)
    blocks = Walker(keep_tables=config.keep_tables, keep_lists=config.keep_lists,
                    max_link_density=config.max_link_density).walk(tree)
    if blocks is None:
        return page
    tally(blocks)
    judge_boxes(blocks, config.max_link_density)
    vote(blocks)
    container = main_box(blocks)
    # A page read from disk may point at files beside it; a web page may not point into our disk.
    schemes = _WEB_SCHEMES | ({"file"} if url.lstrip().lower().startswith("file:") else set())
    flow = FlowBuilder(page.base_url, frozenset(schemes), min_data_uri_bytes=config.min_data_uri_bytes)
    flow.run(content_items(blocks, container, page.base_url))
    page.segments, page.images, page.dropped = flow.segments, flow.images, flow.dropped
    return page
