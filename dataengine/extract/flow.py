"""Write the kept items as the document: text segments and image records in reading order.

Each block of text becomes one segment tagged with its element; the lines of one list or
data table become one segment (``- item`` lines, ``cell | cell`` rows). An image becomes
an ``ImageRecord`` and a segment pointing at it, where it stood in the text; its URL is
resolved here, and references that are no picture (tracking pixels, lazy-load
placeholders, unusable URLs) get no slot but a ``DroppedImage`` saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import ImageRecord, Segment

from .blocks import Box, ImageRef, Item
from .images import (
    BadDataUri,
    declared_size,
    decode_data_uri,
    image_format,
    is_placeholder_url,
    is_tracker_url,
    pixel_size,
    resolve_url,
)
from .text import normalize_text

_DATA_URI_PREVIEW = 80
_URL_PREVIEW = 400


@dataclass(frozen=True)
class DroppedImage:
    """An image reference that got no slot in the document, and why (a rejection row to be)."""

    reason: str  # tracking_pixel | placeholder | no_image_url | bad_url
    url: str | None
    detail: str | None = None


class FlowBuilder:
    """Turns kept items into segments, images and dropped image references; ``run`` is the entry point."""

    def __init__(self, base_url: str, allowed_schemes: frozenset[str], *, min_data_uri_bytes: int = 256) -> None:
        self.base_url = base_url
        self.allowed_schemes = allowed_schemes
        self.min_data_uri_bytes = min_data_uri_bytes
        self.segments: list[Segment] = []
        self.images: list[ImageRecord] = []
        self.dropped: list[DroppedImage] = []
        self._seen_urls: set[str] = set()

    def run(self, items: list[Item]) -> None:
        """Write ``items`` in order."""
        lines: list[str] = []
        group: Box | None = None
        for item in items:
            if item.text is not None and item.group is not None:
                if item.group is not group:
                    self._lines(lines, group)
                    lines, group = [], item.group
                lines.append(f"{item.line or ''}{item.text}")
                continue
            self._lines(lines, group)
            lines, group = [], None
            if item.text:
                self.segments.append(Segment.of_text(item.text, tag=item.tag))
            elif item.text is not None:
                continue  # where a skipped box stood
            else:
                self._add_image(item.image)
        self._lines(lines, group)

    def _lines(self, lines: list[str], group: Box | None) -> None:
        if lines and group is not None:
            self.segments.append(Segment.of_text("\n".join(lines), tag=group.tag))

    def _drop(self, reason: str, url: str | None, detail: str | None = None) -> None:
        self.dropped.append(DroppedImage(reason, url, detail))

    def _add_image(self, ref: ImageRef) -> None:
        attrs, raw = ref.attrs, ref.raw
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
        caption = ref.caption
        self.images.append(ImageRecord(
            index=index, url=url, alt=_clean_attr(attrs.get("alt")), title=_clean_attr(attrs.get("title")),
            caption=caption, caption_model="figcaption" if caption else None, format=fmt,
            status="failed" if error else "pending", error=error, data=data))
        self.segments.append(Segment.of_image(index))


def _clean_attr(value: str | None) -> str | None:
    if not value:
        return None
    return normalize_text(value) or None
