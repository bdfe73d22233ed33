"""Image rules on real images (scikit-image's bundled data, the fixture photos) and real URL patterns."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import skimage
from image_records import describe
from PIL import Image

from dataengine.filters.image_rules import ImageRules, RepeatedImages
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, Segment, SourceRef, document_id, validate_document

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


def image(index: int, url: str | None, data: bytes | None) -> ImageRecord:
    """An image as the fetch stage leaves it: described from its bytes (or pending without them)."""
    record = ImageRecord(index, url)
    if data is not None:
        describe(record, data)
    return record


def make_doc(url: str, images: list[ImageRecord]) -> Document:
    segments = [Segment.of_text("A page with pictures.", "p")]
    for im in images:
        segments += [Segment.of_image(im.index), Segment.of_text(f"Text after picture {im.index}.", "p")]
    doc_id = document_id(url, "test")
    for im in images:
        if im.status == "ok":  # as the shard writer would name them
            im.member = f"{doc_id}.{im.index}.{im.format or 'bin'}"
    return Document(doc_id, url, SourceRef("urls", "test"), segments=segments, images=images)


def png_of(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def test_rules_on_real_images(fixtures):
    photo = (fixtures / "photos" / "img2.jpg").read_bytes()  # 640x480 bus
    with Image.open(io.BytesIO(photo)) as im:
        small = png_of(im.resize((120, 90)))
        strip = png_of(im.crop((0, 0, 640, 200)))
    cases = [  # (url, bytes, expected reason or None)
        ("https://site.example/photos/bus.jpg", photo, None),
        ("https://site.example/a/astronaut.png", (SKIMAGE_DATA / "astronaut.png").read_bytes(), None),
        ("https://site.example/assets/logo.png", (SKIMAGE_DATA / "logo.png").read_bytes(), "url_pattern"),
        ("https://site.example/img/share-buttons/fb.png", photo, "url_pattern"),
        ("https://site.example/static/Icons/search.png", photo, "url_pattern"),
        ("https://site.example/users/avatar_42.jpg", photo, "url_pattern"),
        ("https://site.example/anim.gif", (SKIMAGE_DATA / "no_time_for_that_tiny.gif").read_bytes(),
         "format_not_allowed"),
        ("https://site.example/scan.tif", (SKIMAGE_DATA / "multipage.tif").read_bytes(), "format_not_allowed"),
        ("https://site.example/thumb.png", small, "side_too_small"),
        ("https://site.example/header.png", strip, "aspect_ratio_high"),
        ("https://site.example/broken.jpg", photo[: len(photo) // 2], "decode_failed"),
        ("https://site.example/iconic-moments.jpg", photo, None),  # "icon" inside a word is not a pattern
    ]
    doc = make_doc("https://site.example/page", [image(i, url, data) for i, (url, data, _) in enumerate(cases)])
    batch = ImageRules()(Batch("p", [doc]))
    assert batch.docs == [doc]  # image rules never drop the document
    got = {im.url: im.error for im in doc.images}
    assert got == {url: reason for url, _, reason in cases}
    for im in doc.images:
        assert (im.status == "failed") == (im.error is not None)
        if im.status == "failed":
            assert im.data is None
    rows = {r.image_index: r for r in batch.rejected}
    assert all(r.level == "image" for r in rows.values()) and len(rows) == 9
    assert rows[2].detail == "logo" and rows[4].detail == "icons"
    assert (rows[8].value, rows[8].threshold, rows[8].detail) == (90, 150, "120x90")
    assert rows[9].value == pytest.approx(3.2) and rows[9].threshold == 2.0
    assert sum(1 for s in doc.segments if s.kind == "image") == len(cases)  # slots and positions stay
    validate_document(doc.to_json())


def test_thresholds_and_byte_limits_are_parameters(fixtures):
    photo = (fixtures / "photos" / "img2.jpg").read_bytes()
    with Image.open(io.BytesIO(photo)) as im:
        strip = png_of(im.crop((0, 0, 640, 200)))
    doc = make_doc("https://site.example/p", [image(0, "https://site.example/strip.png", strip),
                                                image(1, "https://site.example/photo.jpg", photo),
                                                image(2, "https://site.example/logo.png", photo)])
    stage = ImageRules(max_aspect_ratio=None, max_bytes=len(photo) - 1, url_patterns=[r"\.png$"])
    stage(Batch("p", [doc]))
    assert [im.error for im in doc.images] == ["url_pattern", "bytes_too_large", "url_pattern"]
    doc = make_doc("https://site.example/q", [image(0, "https://site.example/strip.png", strip)])
    ImageRules(max_aspect_ratio=None, formats=["jpg"])(Batch("p", [doc]))
    assert doc.images[0].error == "format_not_allowed"
    with pytest.raises(ValueError, match="url_patterns"):
        ImageRules(url_patterns=["(unclosed"])


def test_url_patterns_apply_before_fetch():
    pending = [ImageRecord(0, "https://cdn.example/sprites/nav.png"), ImageRecord(1, "https://cdn.example/p/cat.jpg"),
               ImageRecord(2, "data:image/png;base64,iVBORw0KGgo=")]
    doc = make_doc("https://site.example/r", pending)
    ImageRules()(Batch("p", [doc]))
    assert [(im.status, im.error) for im in doc.images] == [("failed", "url_pattern"), ("pending", None),
                                                            ("pending", None)]


def test_images_repeated_across_documents_are_boilerplate(fixtures):
    photos = fixtures / "photos"
    shared = (photos / "img1.png").read_bytes()
    assert (photos / "img4.png").read_bytes() == shared  # the fixture's byte-identical copy
    docs = [
        make_doc("https://a.example/1", [image(0, "https://a.example/banner-1.png", shared),
                                         image(1, "https://a.example/cat.jpg", (photos / "cat.jpg").read_bytes())]),
        make_doc("https://a.example/2", [image(0, "https://a.example/copy.png", (photos / "img4.png").read_bytes())]),
        make_doc("https://a.example/3", [image(0, "https://a.example/x.png", shared),
                                         image(1, "https://a.example/x-again.png", shared)]),
        make_doc("https://a.example/4", [ImageRecord(0, "https://a.example/pending.jpg"),
                                         image(1, "https://a.example/bus.jpg", (photos / "img2.jpg").read_bytes())]),
        make_doc("https://a.example/5", [ImageRecord(0, "https://a.example/pending.jpg")]),
    ]
    batch = RepeatedImages(max_docs=2)(Batch("p", docs))
    assert len(batch.docs) == 5
    failed = [(d.url[-1], im.index) for d in docs for im in d.images if im.status == "failed"]
    assert failed == [("1", 0), ("2", 0), ("3", 0), ("3", 1)]
    assert docs[0].images[0].scores["docs_in_partition"] == 3.0
    assert docs[0].images[1].scores["docs_in_partition"] == 1.0
    assert docs[3].images[0].scores["docs_in_partition"] == 2.0  # pending: counted by URL
    assert {r.reason for r in batch.rejected} == {"repeated_across_docs"}
    assert all(r.value == 3 and r.threshold == 2 for r in batch.rejected)
    with pytest.raises(ValueError, match="max_docs"):
        RepeatedImages(max_docs=0)
