"""What the image filters share: failing one image in place, decoding, and drop policies.

A failed image keeps its slot and its segment (positions never shift; the tokenizer and
the trainer skip failed images): ``status`` becomes ``failed``, ``error`` the reason, the
bytes are released, and an image-level ``rejected`` row records it.
"""

from __future__ import annotations

import io

from PIL import Image

from dataengine.stages.base import Stage
from schemas import Document, ImageRecord

# Document-level policies of the model stages: what a failing image costs.
ACTIONS = ("drop_image", "drop_document")


def check_action(action: str) -> str:
    """``action`` if it is a known policy, else a ``ValueError`` naming the known ones."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    return action


def fail_image(stage: Stage, doc: Document, image: ImageRecord, reason: str, *, value: float | None = None,
               threshold: float | None = None, detail: str | None = None) -> None:
    """Mark ``image`` failed with ``reason`` and record an image-level rejection."""
    image.status, image.error, image.data, image.member = "failed", reason, None, None
    url = image.url if image.url and not image.url.startswith("data:") else None
    stage.reject(doc, reason, level="image", value=value, threshold=threshold, image_index=image.index,
                 detail=detail, url=url)


def open_rgb(data: bytes) -> Image.Image:
    """Decode image bytes to an RGB picture (transparent areas over white); raises if undecodable."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            canvas = Image.new("RGB", rgba.size, (255, 255, 255))
            canvas.paste(rgba, mask=rgba.getchannel("A"))
            return canvas
        return im.convert("RGB")


def apply_action(stage: Stage, doc: Document, image: ImageRecord, action: str, reason: str, *,
                 value: float | None, threshold: float | None, detail: str | None = None) -> bool:
    """Apply a policy to an image that failed a score rule; ``True`` when the whole document goes."""
    if action == "drop_document":
        stage.reject(doc, reason, value=value, threshold=threshold, image_index=image.index,
                     detail=f"image {image.index}" + (f": {detail}" if detail else ""))
        return True
    fail_image(stage, doc, image, reason, value=value, threshold=threshold, detail=detail)
    return False


def scorable(doc: Document) -> list[ImageRecord]:
    """The images of ``doc`` that have bytes to look at."""
    return [im for im in doc.images if im.status == "ok" and im.data is not None]
