"""Image bytes that arrive with their record (img2dataset shards, dataset rows): checked and described.

Sources that read images already downloaded do what ``fetch_images`` does for fetched bytes:
decode them fully once (a truncated or corrupt file fails here, not in training), refuse
decompression bombs, and record width, height, format and sha256. The record they return
has status ``ok``; the shard writer names its member.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image

from schemas import ImageRecord

MAX_PIXELS = 64_000_000


class BadImage(ValueError):
    """Bytes that are not a usable image; ``reason`` is the rejection reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def image_record(data: bytes, url: str | None, index: int = 0, max_pixels: int = MAX_PIXELS) -> ImageRecord:
    """An ``ok`` ``ImageRecord`` holding ``data``; raises ``BadImage`` (``not_an_image``, ``too_many_pixels``)."""
    if not data:
        raise BadImage("empty_image", "no bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise BadImage("too_many_pixels", f"{width}x{height}")
                fmt = (im.format or "").lower() or None
                im.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage("too_many_pixels", str(exc)) from None
    except Exception as exc:  # PIL raises many types for bad bytes
        raise BadImage("not_an_image", f"{type(exc).__name__}: {exc}"[:300]) from None
    return ImageRecord(index=index, url=url, width=width, height=height, format=fmt,
                       sha256=hashlib.sha256(data).hexdigest(), status="ok", data=data)
