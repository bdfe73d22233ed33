"""From downloaded bytes to the image we keep: checked, normalised, then img2dataset's ``Resizer``.

img2dataset's ``Resizer`` (OpenCV) does the resizing (resize modes, target size, only-if-bigger),
the RGB conversion (CMYK JPEGs included, alpha matted onto white) and the encoding (format,
quality). Before it, a cheap look at the bytes with Pillow rejects, each with its own reason,
what it would get wrong or waste time on:

- ``unsupported_format:svg`` (vector images are not rendered) and ``unsupported_format:<fmt>``
  for raster formats OpenCV cannot read; ``not_an_image`` for bytes no decoder recognises;
- ``too_many_pixels`` for decompression bombs, judged from the header before decoding;
- ``animated_image`` for animated GIF/WebP/PNG: one frame of an animation is rarely what the
  page meant to show, and the frames are not worth keeping as separate images;
- ``truncated_image`` and ``corrupt_image``: OpenCV decodes a cut or bit-flipped JPEG without
  complaint (grey or garbled blocks), so JPEGs are decoded by Pillow instead, which notices;
  PNG and WebP are checked for their end markers, and anything OpenCV then fails to decode is
  ``corrupt_image``.

A JPEG is decoded once: Pillow decodes it at the smallest DCT scale (1/2, 1/4, 1/8) that
still leaves the resize something at least as large as its target, which is both the check
above and most of the resize for large photos, and hands the pixels to the Resizer as an
uncompressed PPM (no second decode, the same output format, quality and final resize).

Kept after conversion, which Pillow does and hands over as a PPM/PGM too: 16-bit images
(OpenCV's 8-bit encoders would clip every value above 255, turning a photo white, so they are
scaled to 8 bits first), images with an EXIF orientation (OpenCV ignores it, so they are
turned upright first) and images with transparency, matted onto white as the Resizer would,
but in 8-bit arithmetic (the Resizer's float64 matting holds about 70 bytes per pixel: 4.5 GB
for one 7900 x 7900 RGBA PNG). Re-encoding drops the EXIF block, and with it camera and GPS data;
with ``skip_reencode`` the original bytes are kept when no resize is needed.

Decoding holds the image's pixels, so it runs under the processor's ``PixelBudget`` (the
pixels decoded at once, across the fetcher's threads): an image waits until its pixels fit
(a JPEG's counted at the scale it is decoded at), and one that could never fit is
``too_many_pixels``. Every pixel held costs at most about 10 bytes on any of the paths above.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import warnings
from dataclasses import dataclass

import img2dataset.resizer
import numpy as np
from img2dataset.resizer import Resizer
from PIL import Image, ImageOps

from dataengine.images.budget import PixelBudget
from dataengine.images.http import FetchError
from dataengine.shards.layout import sniff_image_format

# Formats OpenCV's imdecode reads (as Pillow names them).
_DECODABLE = {"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "JPEG2000"}
_HIGH_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
_ORIENTATION = 0x0112
_PNG_END = b"IEND\xaeB`\x82"
_RESIZER_REASONS = {"image too small": "image_too_small", "aspect ratio too large": "aspect_ratio_too_large"}

# The Resizer hides libjpeg/libpng warnings by pointing file descriptors 1 and 2 at /dev/null
# and back. That is process-wide and not thread-safe: two resizes at once leave stdout and
# stderr silenced for good (img2dataset resizes on a single thread). We resize on many threads
# (OpenCV releases the GIL), so the silencing is turned off; the images that make libjpeg
# complain (truncated, corrupt) are rejected before OpenCV sees them.
img2dataset.resizer.SuppressStdoutStderr = contextlib.nullcontext

# Pillow allocates a large image in 16 MB blocks, and glibc keeps freed blocks of that size in
# the heap of the thread that used them: with many threads the process grows far past what the
# pixel budget holds (2.6 GB instead of 1.25 GB for eight 7900 x 7900 RGBA PNGs). Blocks larger
# than glibc's highest mmap threshold (32 MB) are mapped and unmapped on their own, so freed
# pixels go back to the system. A small image still takes only the memory it needs.
if "PILLOW_BLOCK_SIZE" not in os.environ:  # a user's own setting wins
    Image.core.set_block_size(64 * 1024 * 1024)


class ImageRejected(FetchError):
    """Bytes that arrived but do not become a kept image; ``reason`` is the rejection reason."""


@dataclass
class ResizeConfig:
    """img2dataset's resizing options, plus our pixel limits.

    ``max_pixels`` rejects an image larger than that (a decompression bomb) from its header;
    ``pixel_budget`` bounds the pixels decoded at once by all threads sharing the processor.

    ``resize_mode`` is one of img2dataset's: ``no``, ``keep_ratio`` (shorter side to
    ``image_size``), ``keep_ratio_largest`` (longer side to ``image_size``), ``center_crop``,
    ``border``. ``encode_format`` is ``jpg``, ``png`` or ``webp``; ``encode_quality`` is the
    JPEG/WebP quality or the PNG compression level (0-9).
    """

    image_size: int = 1024
    resize_mode: str = "keep_ratio_largest"
    resize_only_if_bigger: bool = True
    encode_format: str = "jpg"
    encode_quality: int = 95
    skip_reencode: bool = False
    min_image_size: int = 0
    max_aspect_ratio: float = float("inf")
    max_pixels: int = 64_000_000
    pixel_budget: int = 128_000_000


@dataclass
class Prepared:
    """An image ready for the shard: its bytes and what describes them."""

    data: bytes
    width: int
    height: int
    format: str
    sha256: str


def is_svg(data: bytes, content_type: str | None = None) -> bool:
    """True for SVG: declared ``image/svg+xml``, or markup that opens an ``<svg>`` element."""
    if content_type and content_type.split(";", 1)[0].strip().lower() == "image/svg+xml":
        return True
    head = data[:1024].lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in head)


def _is_truncated(fmt: str, data: bytes) -> bool:
    if fmt == "PNG":
        return _PNG_END not in data
    if fmt == "WEBP":  # RIFF header: little-endian size of everything after the first 8 bytes
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    return False


def _load_checked(im: Image.Image) -> None:
    try:
        im.load()
    except OSError as exc:
        reason = "truncated_image" if "truncated" in str(exc) else "corrupt_image"
        raise ImageRejected(reason, f"{type(exc).__name__}: {exc}") from None


def _to_8bit(im: Image.Image) -> Image.Image:
    """A high-bit grayscale image scaled to 8 bits (in float32, in place: 4 bytes a pixel)."""
    values = np.asarray(im)
    top = 65535.0 if im.mode.startswith("I;16") or values.max() > 255 else 255.0
    scaled = values.astype(np.float32)
    del values  # the 16-bit copy goes before the scaled one is made 8-bit
    scaled *= 255.0 / top
    scaled += 0.5
    np.clip(scaled, 0, 255, out=scaled)
    return Image.fromarray(scaled.astype(np.uint8), "L")


def _is_rotated(im: Image.Image, data: bytes) -> bool:
    """Whether ``im`` has an EXIF orientation other than upright.

    Pillow finds a PNG's EXIF by decoding the whole image (the chunk may follow the pixels), so
    a PNG without an eXIf chunk is not asked: it would be decoded twice for nothing.
    """
    if im.format == "PNG" and "exif" not in im.info and b"eXIf" not in data:
        return False
    return im.getexif().get(_ORIENTATION, 1) not in (1, None)


def _has_alpha(im: Image.Image) -> bool:
    return "A" in im.getbands() or "transparency" in im.info


def _flat_pnm(im: Image.Image, rotated: bool) -> bytes:
    """``im`` upright, 8-bit RGB or gray, transparency matted onto white, as an uncompressed PPM/PGM."""
    if rotated:
        im = ImageOps.exif_transpose(im)
    if im.mode in _HIGH_BIT_MODES:
        im = _to_8bit(im)
    if _has_alpha(im):
        if im.mode not in ("RGBA", "LA"):
            im = im.convert("RGBA")  # palette, or a transparent colour
        flat = Image.new("L" if im.mode == "LA" else "RGB", im.size, "white")
        flat.paste(im, mask=im)  # alpha blending in 8 bits: what the Resizer does in float64
        im = flat
    elif im.mode not in ("RGB", "L"):
        im = im.convert("RGB")  # CMYK and YCCK JPEGs, palettes, bilevel
    out = io.BytesIO()
    im.save(out, "PPM")
    return out.getvalue()


class ImageProcessor:
    """Check, normalise and resize image bytes; raise ``ImageRejected`` with the reason."""

    def __init__(self, config: ResizeConfig):
        self.config = config
        self.resizer = Resizer(
            image_size=config.image_size, resize_mode=config.resize_mode,
            resize_only_if_bigger=config.resize_only_if_bigger, encode_format=config.encode_format,
            encode_quality=config.encode_quality, skip_reencode=config.skip_reencode,
            min_image_size=config.min_image_size, max_aspect_ratio=config.max_aspect_ratio)
        self.budget = PixelBudget(config.pixel_budget)  # shared by every thread calling this processor

    def __call__(self, data: bytes, content_type: str | None = None) -> Prepared:
        """The kept form of ``data`` (``content_type`` as the server declared it, if any).

        Waits while the pixels it would decode do not fit in the budget.
        """
        if is_svg(data, content_type):
            raise ImageRejected("unsupported_format:svg", "vector images are not rendered")
        with self._open(data) as im:
            keep_original = self._set_draft(im, data) if im.format in ("JPEG", "MPO") else False
            pixels = im.width * im.height  # a JPEG's at the scale it will be decoded at: what is held
            if pixels > self.budget.limit:
                raise ImageRejected("too_many_pixels", f"{im.width}x{im.height} decoded is more than pixel_budget",
                                    value=float(pixels), threshold=float(self.budget.limit))
            with self.budget.hold(pixels):
                normalised = self._normalised(im, data, keep_original)
                im.close()  # its pixels go before the Resizer decodes its own copy
                out, width, height, _, _, error = self.resizer(io.BytesIO(data if normalised is None else normalised))
        if error is not None:
            reason = _RESIZER_REASONS.get(error, "corrupt_image")
            raise ImageRejected(reason, f"img2dataset resizer: {error}")
        fmt = sniff_image_format(out) or self.config.encode_format
        return Prepared(out, width, height, "jpeg" if fmt in ("jpg", "jpeg") else fmt,
                        hashlib.sha256(out).hexdigest())

    def _open(self, data: bytes) -> Image.Image:
        """``data`` opened (header only), after the checks that need no decoding."""
        limit = self.config.max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
                im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ImageRejected("too_many_pixels", str(exc), threshold=float(limit)) from None
        except Exception as exc:  # Pillow raises many types for bytes it cannot identify
            raise ImageRejected("not_an_image", f"{type(exc).__name__}: {exc}"[:300]) from None
        try:
            fmt = im.format or ""
            pixels = im.width * im.height
            if fmt not in _DECODABLE:
                raise ImageRejected(f"unsupported_format:{fmt.lower() or 'unknown'}")
            if pixels > limit:
                raise ImageRejected("too_many_pixels", f"{im.width}x{im.height}", value=float(pixels),
                                    threshold=float(limit))
            if fmt != "MPO" and getattr(im, "is_animated", False):  # MPO: a JPEG with a preview, not a movie
                raise ImageRejected("animated_image", f"{fmt} with {getattr(im, 'n_frames', '?')} frames",
                                    value=float(getattr(im, "n_frames", 2)))
            if _is_truncated(fmt, data):
                raise ImageRejected("truncated_image", f"{fmt} without its end marker")
        except ImageRejected:
            im.close()
            raise
        return im

    def _normalised(self, im: Image.Image, data: bytes, keep_original: bool) -> bytes | None:
        """What the Resizer gets instead of ``data`` (an uncompressed PPM/PGM), or ``None`` for ``data``."""
        rotated = _is_rotated(im, data)  # may decode a PNG: only under the budget
        if im.format in ("JPEG", "MPO"):
            _load_checked(im)
            if keep_original:
                return None
        else:
            high_bit = im.mode in _HIGH_BIT_MODES or (im.format == "PNG" and data[24:25] == b"\x10")
            if not (high_bit or rotated or _has_alpha(im)):
                return None  # OpenCV decodes it as it is
        try:
            return _flat_pnm(im, rotated)
        except OSError as exc:
            raise ImageRejected("corrupt_image", f"{type(exc).__name__}: {exc}") from None

    def _draft_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The smallest size the resize needs from an image of this size, or ``None`` for all of it."""
        cfg = self.config
        if cfg.resize_mode in ("keep_ratio", "center_crop"):
            side = min(width, height)
        elif cfg.resize_mode in ("keep_ratio_largest", "border"):
            side = max(width, height)
        else:
            return None
        if side <= cfg.image_size:
            return None
        return math.ceil(width * cfg.image_size / side), math.ceil(height * cfg.image_size / side)

    def _set_draft(self, im: Image.Image, data: bytes) -> bool:
        """Make a JPEG decode at the smallest DCT scale the resize needs (``im.size`` becomes that
        size); True when the original bytes are kept and the JPEG is decoded (at 1/8) only to check it."""
        size = self._draft_size(im.width, im.height)
        keep_original = self.config.skip_reencode and size is None and not _is_rotated(im, data)
        if keep_original:
            size = (max(1, im.width // 8), max(1, im.height // 8))
        if size:
            im.draft(None, size)
        return keep_original
