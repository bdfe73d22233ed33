"""``fetch_images``: download every pending image of each document and describe its bytes.

An image that cannot be had keeps its slot in the document (``status: failed`` and the
reason in ``error``) and gets an image-level ``rejected`` row, so positions never shift
and nothing disappears. Images whose response carries ``X-Robots-Tag: noai`` or
``noimageai`` are opted out of AI use and are not kept.
"""

from __future__ import annotations

import base64
import hashlib
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

import requests
from PIL import Image

from dataengine.stages.base import Stage
from schemas import Document, ImageRecord

_OPT_OUT = ("noai", "noimageai")


@dataclass
class Fetched:
    """The outcome of fetching one image: bytes, or the reason there are none."""

    data: bytes | None = None
    error: str | None = None
    detail: str | None = None


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a ``data:`` URI (base64 or percent-encoded); ``ValueError`` if malformed."""
    head, sep, payload = uri.partition(",")
    if not sep or not head.startswith("data:"):
        raise ValueError("not a data: URI")
    if head.endswith(";base64"):
        return base64.b64decode(payload, validate=True)
    return unquote_to_bytes(payload)


def describe(image: ImageRecord, data: bytes, max_pixels: int) -> str | None:
    """Fill width, height, format and sha256 from the bytes; return a failure reason or ``None``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > max_pixels:
                    return "too_many_pixels"
                fmt = (im.format or "").lower()
                im.load()  # decodes fully: truncated files fail here, not in training
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "too_many_pixels"
    except Exception:  # PIL raises many types for bad bytes
        return "not_an_image"
    image.width, image.height, image.format = width, height, fmt
    image.sha256 = hashlib.sha256(data).hexdigest()
    image.data = data
    return None


class ImageFetcher(Stage):
    """Download pending images over HTTP(S) (``data:`` URIs are decoded in place)."""

    name = "fetch_images"

    def __init__(self, timeout: float = 10.0, max_bytes: int = 20 * 1024 * 1024, max_pixels: int = 64_000_000,
                 threads: int = 16, user_agent: str = "dataengine", respect_noai: bool = True):
        super().__init__()
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.threads = threads
        self.user_agent = user_agent
        self.respect_noai = respect_noai

    def _get(self, session: requests.Session, url: str) -> Fetched:
        scheme = urlsplit(url).scheme
        if scheme == "data":
            try:
                return Fetched(decode_data_uri(url))
            except ValueError as exc:
                return Fetched(error="bad_data_uri", detail=str(exc))
        if scheme not in ("http", "https"):
            return Fetched(error="unsupported_scheme", detail=scheme)
        try:
            with session.get(url, timeout=self.timeout, stream=True) as resp:
                if resp.status_code != 200:
                    return Fetched(error=f"http_{resp.status_code}")
                robots = resp.headers.get("X-Robots-Tag", "").lower()
                if self.respect_noai and any(tag in robots for tag in _OPT_OUT):
                    return Fetched(error="optout_noai", detail=robots)
                data = resp.raw.read(self.max_bytes + 1, decode_content=True)
        except requests.RequestException as exc:
            return Fetched(error="fetch_failed", detail=f"{type(exc).__name__}: {exc}"[:500])
        if len(data) > self.max_bytes:
            return Fetched(error="too_large")
        return Fetched(data)

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Fetch all pending images of the batch concurrently, then describe each."""
        todo = [(doc, img) for doc in docs for img in doc.images if img.status == "pending"]
        session = requests.Session()
        session.headers["User-Agent"] = self.user_agent
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=self.threads)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        with ThreadPoolExecutor(self.threads) as pool:
            results = list(pool.map(lambda pair: self._get(session, pair[1].url or ""), todo))
        for (doc, img), fetched in zip(todo, results):
            error, detail = fetched.error, fetched.detail
            if error is None:
                error = describe(img, fetched.data, self.max_pixels)
            if error is None:
                img.status = "ok"
                continue
            img.status, img.error, img.data = "failed", error, None
            self.reject(doc, error, level="image", image_index=img.index, detail=detail,
                        url=img.url if img.url and not img.url.startswith("data:") else None)
        return docs
