"""The interleaved document: one WebDataset sample, serialised as ``KEY.json``.

A document is text segments and image references in reading order. Images live in
``images`` (with their metadata and, while in the pipeline, their bytes); a segment of
kind ``image`` points at one of them by index. Pair corpora are documents with one image
and one text segment, and alignment samples are documents with source kind ``generated``.

Fields that are only meaningful inside a running pipeline (raw page bytes, image bytes)
are kept out of the JSON form on purpose: the shard carries image bytes as their own
members, and raw HTML is never stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = "1.0"
SOURCE_KINDS = ("warc", "crawl", "urls", "hf", "generated")
IMAGE_STATUSES = ("pending", "ok", "failed")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default ports and the fragment.

    This is the minimal canonical form used for document ids; the crawler applies
    stricter rules of its own before fetching.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def document_id(url: str, source_uri: str = "", offset: int | None = None) -> str:
    """Stable document id: a hash of the canonical URL and the source reference.

    The same input always yields the same id, so reruns produce the same shard keys.
    Ids are lower-case hex, which keeps them free of dots (WebDataset splits member
    names at the first dot).
    """
    ref = f"{canonical_url(url)}\n{source_uri}\n{'' if offset is None else offset}"
    return hashlib.sha1(ref.encode("utf-8")).hexdigest()[:24]


@dataclass
class SourceRef:
    """Where a document came from: the input kind, its URI and the record's place in it."""

    kind: str
    uri: str
    offset: int | None = None
    length: int | None = None
    fetch_time: str | None = None  # ISO-8601, UTC

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"kind": self.kind, "uri": self.uri, "offset": self.offset,
                "length": self.length, "fetch_time": self.fetch_time}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> SourceRef:
        """Build from the JSON form."""
        return cls(obj["kind"], obj["uri"], obj.get("offset"), obj.get("length"), obj.get("fetch_time"))


@dataclass
class Segment:
    """One block in reading order: text (with the HTML tag it came from) or an image index."""

    kind: str  # "text" | "image"
    text: str | None = None
    image: int | None = None
    tag: str | None = None

    @classmethod
    def of_text(cls, text: str, tag: str | None = None) -> Segment:
        """A text segment."""
        return cls("text", text=text, tag=tag)

    @classmethod
    def of_image(cls, index: int) -> Segment:
        """A reference to ``images[index]``."""
        return cls("image", image=index)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form."""
        if self.kind == "image":
            return {"type": "image", "image": self.image}
        out: dict[str, Any] = {"type": "text", "text": self.text}
        if self.tag:
            out["tag"] = self.tag
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Segment:
        """Build from the JSON form."""
        if obj["type"] == "image":
            return cls("image", image=obj["image"])
        return cls("text", text=obj["text"], tag=obj.get("tag"))


@dataclass
class ImageRecord:
    """An image of a document: where it was referenced, what we know of it, and its fate.

    ``status`` is ``pending`` until the fetch stage runs, then ``ok`` (bytes present,
    ``member`` names them in the shard) or ``failed`` (``error`` says why; the slot stays
    in the document so positions never shift).
    """

    index: int
    url: str | None
    alt: str | None = None
    title: str | None = None
    caption: str | None = None
    caption_model: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    sha256: str | None = None
    phash: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    member: str | None = None
    status: str = "pending"
    error: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)  # not serialised

    _JSON_FIELDS = ("index", "url", "alt", "title", "caption", "caption_model", "width", "height",
                    "format", "sha256", "phash", "scores", "member", "status", "error")

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form (without the bytes)."""
        return {name: getattr(self, name) for name in self._JSON_FIELDS}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ImageRecord:
        """Build from the JSON form."""
        return cls(**{name: obj.get(name) for name in cls._JSON_FIELDS if name in obj})


@dataclass
class RawPage:
    """A fetched page before extraction: body bytes and the HTTP headers (lower-case names)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200


@dataclass
class Document:
    """One interleaved document; ``to_json()`` is exactly what goes into ``KEY.json``."""

    id: str
    url: str
    source: SourceRef
    segments: list[Segment] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    language: str | None = None
    language_score: float | None = None
    title: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    provenance: list[dict[str, str]] = field(default_factory=list)
    assessment: dict[str, Any] | None = None
    raw: RawPage | None = field(default=None, repr=False, compare=False)  # not serialised
    # The document as one int32 token sequence (see ``token_layout``), once tokenized. Not part of
    # the JSON: the shard carries it as its own member, ``KEY.tokens.npy``.
    tokens: np.ndarray | None = field(default=None, repr=False, compare=False)  # not serialised

    @property
    def text(self) -> str:
        """All text segments joined by blank lines, in reading order."""
        return "\n\n".join(s.text or "" for s in self.segments if s.kind == "text")

    def touch(self, stage: str, version: str) -> None:
        """Record that ``stage`` (at ``version``) processed this document."""
        self.provenance.append({"stage": stage, "version": version})

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form written as ``KEY.json``."""
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "url": self.url,
            "source": self.source.to_json(),
            "language": self.language,
            "language_score": self.language_score,
            "title": self.title,
            "segments": [s.to_json() for s in self.segments],
            "images": [i.to_json() for i in self.images],
            "scores": dict(self.scores),
            "provenance": list(self.provenance),
        }
        if self.assessment is not None:
            out["assessment"] = self.assessment
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Document:
        """Build from the JSON form."""
        return cls(
            id=obj["id"],
            url=obj["url"],
            source=SourceRef.from_json(obj["source"]),
            segments=[Segment.from_json(s) for s in obj.get("segments", [])],
            images=[ImageRecord.from_json(i) for i in obj.get("images", [])],
            language=obj.get("language"),
            language_score=obj.get("language_score"),
            title=obj.get("title"),
            scores=dict(obj.get("scores") or {}),
            provenance=list(obj.get("provenance") or []),
            assessment=obj.get("assessment"),
        )


def read_document(raw: bytes, key: str) -> Document:
    """The ``Document`` in a sample's ``KEY.json`` bytes; ``ValueError`` naming ``key`` when they hold none.

    Engine and trainer read ``KEY.json`` through this one function. It parses, it does not
    validate: ``schemas.validate`` checks a document against the whole contract.
    """
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"sample {key}: KEY.json is not valid JSON ({exc})") from None
    try:
        return Document.from_json(obj)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"sample {key}: KEY.json is not a document ({type(exc).__name__}: {exc})") from None
