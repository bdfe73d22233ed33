"""A document's token parts: what of ``KEY.json`` becomes tokens, and in which order. Defined once.

The engine's ``tokenize`` stage and the trainer (tokenizing an untokenized corpus on the fly)
both call ``token_parts``, so a corpus tokenized by the engine trains exactly as the trainer
would have tokenized it itself:

- text segments in reading order, consecutive ones joined by a blank line (paragraph breaks
  survive);
- each image with status ``ok`` as one part (its index), where it stands; images that are not
  ``ok`` are left out (the engine recorded why), and they break no run of text;
- with ``describe`` (the engine's ``image_descriptions``), each image is followed by its
  description, joined to the next text by a blank line, which is how the model sees
  image-to-text examples inside interleaved pages; a figcaption that the page also has as the
  next text segment is said once.

Text ids and image codes come from the tokenizers; ``schemas.token_layout.TokenLayout.encode``
lays the parts out as one sequence.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.document import Document, ImageRecord

Describe = Callable[[ImageRecord], "str | None"]


def token_parts(doc: Document, describe: Describe | None = None) -> list[str | int]:
    """``doc`` as joined texts (``str``) and indices of ``ok`` images (``int``) in reading order.

    ``describe`` gives an image's description (or None when it has none). ``ValueError`` when a
    segment refers to an image the document does not have.
    """
    parts: list[str | int] = []
    pending: list[str] = []
    described: str | None = None  # the description just added after an image, if any

    def flush() -> None:
        if pending:
            parts.append("\n\n".join(pending))
            pending.clear()

    for seg in doc.segments:
        if seg.kind == "text":
            if seg.text:
                # A figcaption is both the image's caption and the text segment after it: say it once.
                if described is not None and seg.text.startswith(described):
                    pending.pop()
                pending.append(seg.text)
            described = None
            continue
        described = None
        index = seg.image
        if not isinstance(index, int) or not 0 <= index < len(doc.images):
            raise ValueError(f"document {doc.id}: segment refers to image {index!r}, which does not exist")
        image = doc.images[index]
        if image.status != "ok":
            continue
        flush()
        parts.append(index)
        if describe is not None:
            described = describe(image)
            if described:
                pending.append(described)
    flush()
    return parts
