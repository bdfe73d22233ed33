"""``fetch_images``: download every pending image of each document, check it and resize it.

Downloads go through ``HttpClient`` (robots.txt of each image host, per-host concurrency,
refused schemes and addresses, timeouts, size limit, retries, ``X-Robots-Tag: noai`` /
``noimageai`` and ``tdm-reservation`` opt-outs); the bytes then go through ``ImageProcessor``
(img2dataset's ``Resizer`` after our checks). ``data:`` URIs are decoded instead of fetched,
and bytes the extractor already decoded are processed as they are.

An image that cannot be had keeps its slot in the document (``status: failed``, the reason in
``error``) and gets an image-level ``rejected`` row, so positions never shift and nothing
disappears; a kept image gets its bytes, width, height, format and sha256 (of the stored bytes)
and ``status: ok``.

The downloads run on a thread pool inside the partition's task: they wait on sockets, and
OpenCV releases the GIL while it decodes and encodes, so threads keep a core busy without
moving image bytes between processes, and the images stay beside their documents (no join
after the fact). Work is interleaved across hosts so that threads rarely wait for a busy
host's slot. With ``resources: {concurrency: N}`` the stage runs on N long-lived Ray actors
instead, which keeps connection pools and robots.txt verdicts across partitions. Per-host
limits hold per worker, not across the cluster.
"""

from __future__ import annotations

import traceback
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, zip_longest
from typing import Any
from urllib.parse import urlsplit

from dataengine.extract.images import BadDataUri, decode_data_uri
from dataengine.images.http import FetchError, HttpClient, HttpConfig
from dataengine.images.process import ImageProcessor, Prepared, ResizeConfig
from dataengine.stages.base import Stage
from schemas import Document, ImageRecord

# Content-Types an image URL may answer with; none at all is fine too (the bytes are judged).
IMAGE_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")


@dataclass
class Failure:
    """Why one image was not kept, as it goes into the ``rejected`` row."""

    reason: str
    detail: str | None = None
    value: float | None = None
    threshold: float | None = None


@dataclass
class FetchImagesConfig(ResizeConfig):
    """The ``fetch_images`` parameters: the network's here, the images' those of ``ResizeConfig``.

    Network: ``timeout`` (read timeout, s), ``connect_timeout``, ``max_seconds`` (a whole
    transfer), ``max_bytes``, ``max_redirects``, ``retries`` and ``backoff`` (429/5xx and dropped
    connections), ``max_retry_wait`` (longest ``Retry-After`` honoured), ``threads``,
    ``max_per_host``, ``user_agent`` (its first word is the robots.txt token), ``respect_robots``,
    ``respect_noai`` (X-Robots-Tag noai/noimageai and tdm-reservation), ``allow_private``
    (``false``, ``true`` or a list of CIDR networks that may be contacted).
    Images: img2dataset's ``image_size``, ``resize_mode``, ``resize_only_if_bigger``,
    ``encode_format``, ``encode_quality``, ``skip_reencode``, ``min_image_size``,
    ``max_aspect_ratio``, and ``max_pixels`` (decompression-bomb limit).
    Memory: ``pixel_budget``, the pixels decoded at once by all of this worker's ``threads``
    (each held pixel costs up to about 10 bytes, so the default 128 million bounds decoding to
    about 1.3 GB per worker, two images of ``max_pixels`` at a time); an image waits until its
    pixels fit (a JPEG's counted at the reduced scale it is decoded at), and one that would
    never fit is rejected ``too_many_pixels``.
    """

    timeout: float = 10.0
    connect_timeout: float = 5.0
    max_seconds: float = 60.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 2
    backoff: float = 0.5
    max_retry_wait: float = 10.0
    threads: int = 32
    max_per_host: int = 8
    user_agent: str = "dataengine"
    respect_robots: bool = True
    respect_noai: bool = True
    allow_private: bool | str | list[str] = False

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")

    def http(self) -> HttpConfig:
        """The HTTP client's settings for image downloads."""
        return HttpConfig(
            user_agent=self.user_agent, connect_timeout=self.connect_timeout, read_timeout=self.timeout,
            max_seconds=self.max_seconds, max_bytes=self.max_bytes, max_redirects=self.max_redirects,
            retries=self.retries, backoff=self.backoff, max_retry_wait=self.max_retry_wait,
            max_per_host=self.max_per_host, respect_robots=self.respect_robots,
            optout_directives=("noai", "noimageai") if self.respect_noai else (), respect_tdm=self.respect_noai,
            accept_types=IMAGE_TYPES, allow_private=self.allow_private)


class ImageFetcher(Stage):
    """Download, check and resize the pending images of each document (parameters: ``FetchImagesConfig``)."""

    name = "fetch_images"
    version = "2"
    reads = frozenset({"images"})
    writes = frozenset({"images.data"})
    Config = FetchImagesConfig
    config: FetchImagesConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        self.http = HttpClient(self.config.http())
        self.processor = ImageProcessor(self.config)  # the config is a ResizeConfig too

    def fetch_one(self, image: ImageRecord) -> Prepared | Failure:
        """Get and prepare one image (never raises: every problem is a ``Failure``)."""
        try:
            content_type = None
            if image.data is not None:  # decoded from a data: URI by the extractor
                data = image.data
            elif image.url and image.url[:5].lower() == "data:":
                decoded = decode_data_uri(image.url)
                data, content_type = decoded.data, decoded.mime
            elif image.url:
                response = self.http.get(image.url)
                data, content_type = response.body, response.headers.get("content-type")
            else:
                return Failure("no_image_url")
            return self.processor(data, content_type)
        except FetchError as exc:  # process.ImageRejected is one too
            return Failure(exc.reason, exc.detail, exc.value, exc.threshold)
        except BadDataUri as exc:
            return Failure("bad_data_uri", str(exc))
        except Exception as exc:  # one bad image must not take its partition down
            return Failure(f"error:{type(exc).__name__}", f"{exc}\n{traceback.format_exc(limit=3)}"[:2000])

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Fetch all pending images of the batch concurrently; every document is kept."""
        todo = [(doc, image) for doc in docs for image in doc.images if image.status == "pending"]
        ordered = _across_hosts([image for _, image in todo])
        with ThreadPoolExecutor(min(self.config.threads, max(1, len(todo)))) as pool:
            outcomes = dict(zip(map(id, ordered), pool.map(self.fetch_one, ordered)))
        for doc, image in todo:
            outcome = outcomes[id(image)]
            if isinstance(outcome, Prepared):
                image.data, image.width, image.height = outcome.data, outcome.width, outcome.height
                image.format, image.sha256, image.status, image.error = outcome.format, outcome.sha256, "ok", None
                continue
            image.status, image.error, image.data = "failed", outcome.reason, None
            url = image.url if image.url and image.url[:5].lower() != "data:" else None
            self.reject(doc, outcome.reason, level="image", image_index=image.index, detail=outcome.detail,
                        value=outcome.value, threshold=outcome.threshold, url=url)
        return docs


def _host_of(url: str | None) -> str:
    if not url or url[:5].lower() == "data:":
        return ""
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:  # a malformed URL; the fetch reports it
        return ""


def _across_hosts(images: list[ImageRecord]) -> list[ImageRecord]:
    """``images`` reordered round-robin over hosts, so consecutive downloads go to different hosts."""
    by_host: dict[str, list[ImageRecord]] = defaultdict(list)
    for image in images:
        by_host[_host_of(image.url)].append(image)
    return [image for image in chain.from_iterable(zip_longest(*by_host.values())) if image is not None]
