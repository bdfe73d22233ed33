"""``image_rules`` and ``repeated_images``: cheap rules that fail images which are not content.

``image_rules`` checks each image on its own: URL patterns (logos, icons, buttons, banners,
avatars, sprites...), file size, a full decode, format, side lengths and aspect ratio (the
format, size and ratio defaults are OBELICS'). The URL rule needs no bytes, so it also
applies to pending images: put the stage before ``fetch_images`` to save their downloads
(the byte rules then do nothing; run it again after the fetch, or place it there only).

``repeated_images`` fails images that appear in too many documents of the partition, which
is what site boilerplate looks like (the corpus-wide count is the dedup phase's job).
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from dataengine.filters.images import fail_image
from dataengine.stages.base import Stage
from schemas import Document, ImageRecord

# Words that name page furniture rather than content when they appear in an image URL.
URL_WORDS = ("logo", "icon", "favicon", "button", "btn", "banner", "avatar", "sprite", "badge", "spacer",
             "emoji", "emoticon", "smiley", "widget", "ad", "advert", "advertisement")
# PIL names some JPEG variants differently; the allowlist speaks of the usual names.
_FORMAT_ALIASES = {"jpg": "jpeg", "mpo": "jpeg"}


def word_pattern(word: str) -> str:
    """A regex matching ``word`` (or its plural) as a whole token of a URL."""
    return rf"(?<![a-z]){re.escape(word)}s?(?![a-z])"


def url_without_scheme(url: str) -> str:
    """``url`` lower-cased, without its scheme, so ``https`` never matches a pattern."""
    return url.split("://", 1)[-1].lower()


@dataclass
class ImageRulesConfig:
    """The ``image_rules`` parameters: allowed ``formats``, side, ratio and byte limits (``None``
    turns a rule off), whether to ``decode`` fully, and ``url_patterns``: regular expressions
    searched in the lower-case URL without its scheme (default: the words of ``URL_WORDS`` as
    whole tokens)."""

    formats: list[str] = field(default_factory=lambda: ["jpeg", "png", "webp"])
    min_side: int | None = 150
    max_side: int | None = 20_000
    max_aspect_ratio: float | None = 2.0
    min_bytes: int | None = None
    max_bytes: int | None = None
    decode: bool = True
    url_patterns: list[str] | None = None


class ImageRules(Stage):
    """Fail images by URL pattern, file size, decode, format, side length and aspect ratio.

    Parameters: ``ImageRulesConfig``. Reasons (image level): ``url_pattern`` (detail: the
    matched text), ``bytes_too_small``, ``bytes_too_large``, ``decode_failed``,
    ``format_not_allowed``, ``side_too_small``, ``side_too_large``, ``aspect_ratio_high``.
    """

    name = "image_rules"
    reads = frozenset({"images"})
    Config = ImageRulesConfig
    config: ImageRulesConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        self.formats = {_FORMAT_ALIASES.get(f.lower(), f.lower()) for f in self.config.formats}
        patterns = self.config.url_patterns
        if patterns is None:
            patterns = [word_pattern(w) for w in URL_WORDS]
        try:
            self.url_patterns = [re.compile(p) for p in patterns]
        except re.error as exc:
            raise ValueError(f"{self.name}: url_patterns: bad regular expression: {exc}") from None

    def url_match(self, url: str | None) -> str | None:
        """The text of ``url`` that a pattern matches, if any (``data:`` URIs are never matched)."""
        if not url or url.startswith("data:"):
            return None
        target = url_without_scheme(url)
        for pattern in self.url_patterns:
            found = pattern.search(target)
            if found:
                return found.group(0)
        return None

    def _describe(self, image: ImageRecord) -> str | None:
        """Fill width, height and format from the bytes (decoding fully if asked); a reason on failure."""
        try:
            with Image.open(io.BytesIO(image.data)) as im:
                image.width, image.height = im.size
                image.format = (im.format or "").lower()
                if self.config.decode:
                    im.load()
        except Exception:  # PIL raises many types for bad bytes, including decompression bombs
            return "decode_failed"
        return None

    def check(self, image: ImageRecord) -> tuple[str, float | None, float | None, str | None] | None:
        """The first rule ``image`` breaks, as (reason, value, threshold, detail), or ``None``."""
        matched = self.url_match(image.url)
        if matched:
            return "url_pattern", None, None, matched
        if image.status != "ok":
            return None  # pending: the remaining rules need the bytes
        if image.data is not None:
            size = len(image.data)
            if self.config.min_bytes is not None and size < self.config.min_bytes:
                return "bytes_too_small", size, self.config.min_bytes, None
            if self.config.max_bytes is not None and size > self.config.max_bytes:
                return "bytes_too_large", size, self.config.max_bytes, None
            reason = self._describe(image)
            if reason:
                return reason, None, None, None
        if image.format:
            fmt = _FORMAT_ALIASES.get(image.format.lower(), image.format.lower())
            if fmt not in self.formats:
                return "format_not_allowed", None, None, fmt
        if image.width and image.height:
            short, long = sorted((image.width, image.height))
            if self.config.min_side is not None and short < self.config.min_side:
                return "side_too_small", short, self.config.min_side, f"{image.width}x{image.height}"
            if self.config.max_side is not None and long > self.config.max_side:
                return "side_too_large", long, self.config.max_side, f"{image.width}x{image.height}"
            if self.config.max_aspect_ratio is not None and long / short > self.config.max_aspect_ratio:
                return "aspect_ratio_high", long / short, self.config.max_aspect_ratio, f"{image.width}x{image.height}"
        return None

    def process(self, doc: Document) -> Document:
        """Fail every image that breaks a rule; the document itself always stays."""
        for image in doc.images:
            if image.status == "failed":
                continue
            failure = self.check(image)
            if failure:
                reason, value, threshold, detail = failure
                fail_image(self, doc, image, reason, value=value, threshold=threshold, detail=detail)
        return doc


@dataclass
class RepeatedImagesConfig:
    """The ``repeated_images`` parameter: ``max_docs``, the most documents of a partition an image may be in."""

    max_docs: int = 10

    def __post_init__(self) -> None:
        if self.max_docs < 1:
            raise ValueError(f"max_docs must be >= 1, got {self.max_docs}")


class RepeatedImages(Stage):
    """Fail images found in more than ``max_docs`` documents of the partition (boilerplate).

    An image is the same image when its sha256 matches, or, before it is fetched, its URL.
    Every image's count goes to ``image.scores["docs_in_partition"]``. Reason (image level):
    ``repeated_across_docs``, value the count.
    """

    name = "repeated_images"
    reads = frozenset({"images"})
    Config = RepeatedImagesConfig
    config: RepeatedImagesConfig

    @staticmethod
    def key(image: ImageRecord) -> str | None:
        """What identifies ``image`` across documents: its content hash, else its URL."""
        if image.sha256:
            return f"sha256:{image.sha256}"
        return f"url:{image.url}" if image.url else None

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Count documents per image over the whole batch, then fail the over-repeated ones."""
        docs_per_key: dict[str, set[int]] = defaultdict(set)
        for n, doc in enumerate(docs):
            for image in doc.images:
                if image.status != "failed" and (key := self.key(image)):
                    docs_per_key[key].add(n)
        for doc in docs:
            for image in doc.images:
                key = self.key(image) if image.status != "failed" else None
                if key is None:
                    continue
                count = len(docs_per_key[key])
                image.scores["docs_in_partition"] = float(count)
                if count > self.config.max_docs:
                    fail_image(self, doc, image, "repeated_across_docs", value=count, threshold=self.config.max_docs)
        return docs
