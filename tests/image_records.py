"""Test helper: fill an ``ImageRecord`` from bytes the way the fetch stage would, without fetching."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from schemas import ImageRecord


def describe(record: ImageRecord, data: bytes) -> None:
    """Fill what the fetch stage records from an image's bytes: size, format (if decodable), sha256."""
    record.sha256 = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
            record.width, record.height = im.size
            record.format = (im.format or "").lower()
    except OSError:
        pass  # undecodable: the rules under test must notice
    record.status, record.data = "ok", data
