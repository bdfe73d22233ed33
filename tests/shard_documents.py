"""Documents for the shard tests: real photos in every format the writer stores, members that
differ from document to document (0..3 images, failed slots, tokens on some)."""

from __future__ import annotations

import hashlib
import io
import json
import math

import numpy as np
from PIL import Image
from skimage import data as skdata

from dataengine.shards import ShardWriter
from schemas import Document, ImageRecord, Segment, SourceRef, document_id

FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}


def encode(array: np.ndarray, fmt: str, size: int = 96) -> bytes:
    """Real image bytes: a scikit-image photo, shrunk, in ``fmt``."""
    image = Image.fromarray(array).convert("RGB")
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, format=FORMATS[fmt])
    return buf.getvalue()


def photo_bytes() -> list[bytes]:
    """Six real photos (scikit-image's) as JPEG, PNG, WebP and GIF bytes."""
    arrays = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket(), skdata.camera()]
    return [encode(a, fmt) for a, fmt in zip(arrays, ["jpeg", "png", "webp", "jpeg", "png"])] + \
        [encode(skdata.coffee(), "gif")]


def make_doc(i: int, photos: list[bytes], n_images: int = 1, failed: int = 0, tokens: bool = False,
             source: str = "crawl") -> Document:
    """Document ``i`` with text, ``n_images`` ok images (cycling through real photos), ``failed`` failed slots."""
    url = f"https://example.org/page/{i}"
    doc = Document(id=document_id(url, "tests"), url=url, source=SourceRef(source, "tests", offset=i),
                   language="en", title=f"Page {i}", scores={"quality": 0.5 + i / 100})
    doc.segments.append(Segment.of_text(f"Paragraph one of page {i}.", "p"))
    for k in range(n_images + failed):
        if k < n_images:
            data = photos[(i + k) % len(photos)]
            fmt = Image.open(io.BytesIO(data)).format.lower()
            img = Image.open(io.BytesIO(data))
            doc.images.append(ImageRecord(index=k, url=f"{url}/img{k}", alt=f"photo {k}", width=img.width,
                                          height=img.height, format=fmt,
                                          sha256=hashlib.sha256(data).hexdigest(), scores={"clip": 0.25},
                                          status="ok", data=data))
        else:
            doc.images.append(ImageRecord(index=k, url=f"{url}/broken{k}", status="failed", error="http 404"))
        doc.segments.append(Segment.of_image(k))
        doc.segments.append(Segment.of_text(f"After image {k}.", "p"))
    if tokens:
        doc.tokens = np.arange(5 + i, dtype=np.int32)
    return doc


def mixed_docs(photos: list[bytes], n: int = 12) -> list[Document]:
    """Documents whose member sets differ: 0..3 images, jpg/png/webp/gif, failed slots, some with tokens."""
    return [make_doc(i, photos, n_images=i % 4, failed=1 if i % 5 == 0 else 0, tokens=i % 3 == 0)
            for i in range(n)]


def expected_members(doc: Document) -> dict[str, bytes]:
    """What the sample of ``doc`` must hold, member name -> bytes (after the writer set the members)."""
    out = {f"{doc.id}.json": json.dumps(doc.to_json(), ensure_ascii=False, separators=(",", ":")).encode()}
    for image in doc.images:
        if image.status == "ok":
            out[image.member] = image.data
    if doc.tokens is not None:
        buf = io.BytesIO()
        np.save(buf, doc.tokens.astype("<i4"))
        out[f"{doc.id}.tokens.npy"] = buf.getvalue()
    return out


def write(out: str, docs: list[Document], partition: str = "web-part", **kw) -> list:
    with ShardWriter(str(out), partition, **kw) as writer:
        for doc in docs:
            writer.write(doc)
    return writer.close()


def written_samples(docs: list[Document]) -> list[tuple[str, dict[str, bytes]]]:
    """(key, member suffix -> bytes) of each document's sample, in order."""
    return [(d.id, {name.split(".", 1)[1]: data for name, data in expected_members(d).items()}) for d in docs]


def same_json(a, b) -> bool:
    """Equal JSON values, floats compared to 1e-9 (what survives datasets' Json() feature)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)
