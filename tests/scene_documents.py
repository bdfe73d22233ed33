"""Documents with real images for the caption, tokenize and publish tests: sample-web scenes and photos.

Scenes are drawn by the sample web's renderer (so their true captions are known); photos are
scikit-image's public-domain pictures. Every document passes the contract and can be written
with ``ShardWriter`` as it is.
"""

from __future__ import annotations

import hashlib
import random

from dataengine.sampleweb.images import jpeg_bytes, load_photo, png_bytes, scaled_photo
from dataengine.sampleweb.scenes import random_scene, render_scene
from schemas import Document, ImageRecord, Segment, SourceRef, document_id
from schemas.scenes import Scene

SITE = "http://site.test"


def image_record(index: int, data: bytes, fmt: str, url: str, alt: str | None = None,
                 caption: str | None = None, caption_model: str | None = None) -> ImageRecord:
    """An ``ok`` image with its bytes."""
    return ImageRecord(index=index, url=url, alt=alt, caption=caption, caption_model=caption_model, format=fmt,
                       sha256=hashlib.sha256(data).hexdigest(), status="ok", data=data)


def scene_image(index: int, seed: int, alt: str | None = None, **kw) -> tuple[ImageRecord, Scene]:
    """A drawn scene as an ``ok`` PNG image at ``/img/scene-SEED.png``, with its scene."""
    scene = random_scene(random.Random(seed))
    data = png_bytes(render_scene(scene, seed=seed))
    return image_record(index, data, "png", f"{SITE}/img/scene-{seed}.png", alt, **kw), scene


def photo_image(index: int, name: str = "astronaut", alt: str | None = None) -> ImageRecord:
    """A scaled scikit-image photo as an ``ok`` JPEG image."""
    data = jpeg_bytes(scaled_photo(load_photo(name), 96))
    return image_record(index, data, "jpeg", f"{SITE}/img/{name}.jpg", alt)


def make_document(path: str, parts: list, partition_hint: str = "") -> Document:
    """A document from text strings and ``ImageRecord``s in reading order (indices are renumbered)."""
    url = f"{SITE}{path}"
    doc = Document(id=document_id(url, f"tests{partition_hint}"), url=url, source=SourceRef("crawl", url))
    for part in parts:
        if isinstance(part, str):
            doc.segments.append(Segment.of_text(part))
        else:
            part.index = len(doc.images)
            doc.images.append(part)
            doc.segments.append(Segment.of_image(part.index))
    return doc


def failed_image(index: int) -> ImageRecord:
    """An image slot whose fetch failed."""
    return ImageRecord(index=index, url=f"{SITE}/img/missing-{index}.png", status="failed", error="http_404")


def corrupt_image(index: int) -> ImageRecord:
    """An image with status ``ok`` whose bytes are not an image."""
    return image_record(index, b"\xff\xd8\xff this is not a JPEG", "jpeg", f"{SITE}/img/corrupt-{index}.jpg",
                        alt="Three red circles on the left.")


def scene_corpus_documents(n: int, seed: int = 0, tag: str = "") -> list[Document]:
    """``n`` articles of 1-3 scenes between paragraphs, alt text of every kind."""
    rng = random.Random(seed)
    docs = []
    for k in range(n):
        parts: list = [f"Article {tag}{k}. " + " ".join(rng.choice(("Shapes", "colours", "form", "light", "balance"))
                                                        for _ in range(rng.randint(5, 40))) + "."]
        for j in range(rng.randint(1, 3)):
            image, scene = scene_image(0, seed * 1000 + k * 10 + j)
            image.alt = rng.choice((scene.caption(), "", f"scene-{k}-{j}.png", "Drawing: " + scene.caption()))
            parts += [image, f"Paragraph {j} after the image of article {k}."]
        docs.append(make_document(f"/articles/{tag}{k}.html", parts, tag))
    return docs
