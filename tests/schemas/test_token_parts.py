"""``schemas.token_parts``: the one serialisation of a document into token parts, engine and trainer alike."""

from __future__ import annotations

import pytest

from schemas import Document, ImageRecord, Segment, SourceRef
from schemas.token_parts import token_parts


def document(*parts: str | ImageRecord) -> Document:
    """A document of text strings and image records in reading order (indices by position)."""
    doc = Document(id="d0c", url="http://e.test/", source=SourceRef("crawl", "http://e.test/"))
    for part in parts:
        if isinstance(part, str):
            doc.segments.append(Segment.of_text(part))
        else:
            part.index = len(doc.images)
            doc.images.append(part)
            doc.segments.append(Segment.of_image(part.index))
    return doc


def ok(caption: str | None = None) -> ImageRecord:
    """An image that was fetched."""
    return ImageRecord(index=0, url="http://e.test/i.png", caption=caption, member="d0c.0.png", status="ok")


def failed() -> ImageRecord:
    """An image whose fetch failed."""
    return ImageRecord(index=0, url="http://e.test/gone.png", status="failed", error="http_404")


def caption_of(image: ImageRecord) -> str | None:
    """A ``describe`` for the tests: the caption."""
    return image.caption


def test_texts_join_around_ok_images_and_failed_ones_are_left_out():
    doc = document("Intro.", "", "Second.", ok(), "After.", failed(), "Closing.", ok())
    assert token_parts(doc) == ["Intro.\n\nSecond.", 0, "After.\n\nClosing.", 2]
    assert token_parts(document(failed(), failed())) == []
    assert token_parts(document()) == []


def test_descriptions_follow_their_image_once():
    doc = document("Start.", ok("A caption."), "Next.", ok("Figure 1."), "Figure 1. Blue.", ok(None), "End.",
                   ok("Last words."))
    assert token_parts(doc, caption_of) == ["Start.", 0, "A caption.\n\nNext.", 1, "Figure 1. Blue.", 2, "End.", 3,
                                            "Last words."]
    assert token_parts(doc) == ["Start.", 0, "Next.", 1, "Figure 1. Blue.", 2, "End.", 3]


def test_a_description_is_kept_when_a_failed_image_stands_between():
    doc = document(ok("Figure 1."), failed(), "Figure 1. Blue.")
    assert token_parts(doc, caption_of) == [0, "Figure 1.\n\nFigure 1. Blue."]


@pytest.mark.parametrize("index", [1, -1, None])
def test_a_segment_referring_to_no_image_is_an_error(index):
    doc = document("Text.", ok())
    doc.segments.append(Segment("image", image=index))
    with pytest.raises(ValueError, match=f"document d0c: segment refers to image {index!r}, which does not exist"):
        token_parts(doc)
