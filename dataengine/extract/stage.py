"""``HtmlExtractor``: the pipeline stage that turns fetched pages into interleaved documents.

Input documents carry ``raw`` (body bytes and lower-case HTTP headers) and ``url``. The
stage fills ``title``, ``segments`` and ``images`` (status ``pending``; images that came as
``data:`` URIs already hold their bytes in ``ImageRecord.data``), and drops ``raw``.
"""

from __future__ import annotations

from schemas import Document

from ..stages.base import Stage
from .budget import TooComplexError
from .charset import UndecodableError
from .page import ExtractConfig, extract_page

# Content types that are HTML; a page served as anything else is not parsed.
HTML_CONTENT_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})


def media_type(content_type: str | None) -> str | None:
    """The lower-case media type of a Content-Type value (``text/html; charset=x`` -> ``text/html``)."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


class HtmlExtractor(Stage):
    """Extract the main content of each page into segments and image records.

    Parameters: the fields of ``ExtractConfig`` (see there for their meaning).

    Rejects a document with ``not_html`` (a Content-Type that is given and is not HTML),
    ``no_raw_page`` (nothing fetched to extract from, and no segments yet;
    documents that arrive already interleaved pass through untouched), ``undecodable`` (bytes that are not text
    in any encoding), ``refused_charset`` (UTF-7, which browsers refuse), ``too_complex`` (markup
    deeper than ``max_depth`` or with more elements than ``max_elements``; value and threshold
    say which), ``no_content`` (main content shorter than ``min_text_chars``), or
    ``invalid_bytes`` (more than ``max_invalid_bytes_share`` of the main text is U+FFFD standing
    for bytes invalid in the page's encoding). A page kept despite such bytes carries the share
    as ``scores["invalid_bytes_share"]`` (0.0 when they all fell outside the main text). Rejects
    images with ``bad_data_uri`` (the slot stays, status ``failed``), and records image
    references that get no slot: ``tracking_pixel``, ``placeholder``, ``no_image_url``, ``bad_url``.
    """

    name = "extract_html"
    version = "1"
    writes = frozenset({"segments", "images"})
    Config = ExtractConfig
    config: ExtractConfig

    def process(self, doc: Document) -> Document | None:
        """Extract ``doc.raw`` into ``doc``; ``None`` after a rejection."""
        raw = doc.raw
        if raw is None:
            if doc.segments:  # already interleaved (WET text, pairs, imported corpora): nothing to extract
                return doc
            self.reject(doc, "no_raw_page", detail="document has no fetched page and no segments")
            return None
        content_type = raw.headers.get("content-type")
        mime = media_type(content_type)
        if mime is not None and mime not in HTML_CONTENT_TYPES:
            self.reject(doc, "not_html", detail=f"content-type {content_type!r}")
            return None
        try:
            page = extract_page(raw.body, doc.url, raw.headers, self.config)
        except UndecodableError as exc:
            self.reject(doc, exc.reason, detail=str(exc))
            return None
        except TooComplexError as exc:
            self.reject(doc, exc.reason, value=float(exc.value), threshold=float(exc.threshold), detail=str(exc))
            return None
        if page.text_chars < self.config.min_text_chars:
            self.reject(doc, "no_content", value=float(page.text_chars), threshold=float(self.config.min_text_chars),
                        detail=f"{len(page.images)} images, {page.text_chars} characters of main-content text")
            return None
        if page.decode_errors:
            share = page.replacement_share
            if share > self.config.max_invalid_bytes_share:
                self.reject(doc, "invalid_bytes", value=share, threshold=self.config.max_invalid_bytes_share,
                            detail=f"{page.decode_errors} byte sequences invalid in {page.encoding}; "
                                   f"{share:.2%} of the main text is U+FFFD")
                return None
            doc.scores["invalid_bytes_share"] = share
        doc.title = page.title
        doc.segments = page.segments
        doc.images = page.images
        doc.raw = None
        for image in page.images:
            if image.status == "failed":
                reason = (image.error or "failed").split(":", 1)[0]
                self.reject(doc, reason, level="image", image_index=image.index, detail=image.error)
        for dropped in page.dropped:
            self.reject(doc, dropped.reason, level="image", url=dropped.url, detail=dropped.detail)
        return doc
