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

Kept after conversion: 16-bit images (OpenCV's 8-bit encoders would clip every value above
255, turning a photo white, so they are scaled to 8 bits first) and images with an EXIF
orientation (OpenCV ignores it, so they are turned upright first). Re-encoding drops the
EXIF block, and with it camera and GPS data; with ``skip_reencode`` the original bytes are
kept when no resize is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import warnings
from dataclasses import dataclass

import img2dataset.resizer
import numpy as np
from img2dataset.resizer import Resizer
from PIL import Image, ImageOps

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


class ImageRejected(FetchError):
    """Bytes that arrived but do not become a kept image; ``reason`` is the rejection reason."""


@dataclass
class ResizeConfig:
    """img2dataset's resizing options, plus our pixel limit.

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


def _upright_8bit(im: Image.Image, high_bit: bool) -> bytes:
    """A lossless PNG of ``im`` turned upright and scaled to 8 bits per channel."""
    im = ImageOps.exif_transpose(im)
    if im.mode in _HIGH_BIT_MODES:
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or values.max() > 255 else 255.0
        im = Image.fromarray(np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    elif im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    out = io.BytesIO()
    im.save(out, "PNG", compress_level=1)
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

    def __call__(self, data: bytes, content_type: str | None = None) -> Prepared:
        """The kept form of ``data`` (``content_type`` as the server declared it, if any)."""
        if is_svg(data, content_type):
            raise ImageRejected("unsupported_format:svg", "vector images are not rendered")
        stream = io.BytesIO(data)
        normalised = self._inspect(data)
        if normalised is not None:
            stream = io.BytesIO(normalised)
        out, width, height, _, _, error = self.resizer(stream)
        if error is not None:
            reason = _RESIZER_REASONS.get(error, "corrupt_image")
            raise ImageRejected(reason, f"img2dataset resizer: {error}")
        fmt = sniff_image_format(out) or self.config.encode_format
        return Prepared(out, width, height, "jpeg" if fmt in ("jpg", "jpeg") else fmt,
                        hashlib.sha256(out).hexdigest())

    def _inspect(self, data: bytes) -> bytes | None:
        """Reject what the resizer must not see; return replacement bytes when conversion is needed."""
        limit = self.config.max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
                im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ImageRejected("too_many_pixels", str(exc), threshold=float(limit)) from None
        except Exception as exc:  # Pillow raises many types for bytes it cannot identify
            raise ImageRejected("not_an_image", f"{type(exc).__name__}: {exc}"[:300]) from None
        with im:
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
            rotated = im.getexif().get(_ORIENTATION, 1) not in (1, None)
            if fmt in ("JPEG", "MPO"):
                return self._decode_jpeg(im, rotated)
            high_bit = im.mode in _HIGH_BIT_MODES or (fmt == "PNG" and data[24:25] == b"\x10")
            if not (high_bit or rotated):
                return None
            try:
                return _upright_8bit(im, high_bit)
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

    def _decode_jpeg(self, im: Image.Image, rotated: bool) -> bytes | None:
        """The JPEG's pixels as a PPM/PGM for the Resizer, or ``None`` to keep the original bytes."""
        size = self._draft_size(im.width, im.height)
        keep_original = self.config.skip_reencode and size is None and not rotated
        if keep_original:  # decode at 1/8 scale only to check it
            size = (max(1, im.width // 8), max(1, im.height // 8))
        if size:
            im.draft(None, size)
        _load_checked(im)
        if keep_original:
            return None
        if rotated:
            im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")  # CMYK and YCCK
        out = io.BytesIO()
        im.save(out, "PPM")
        return out.getvalue()
