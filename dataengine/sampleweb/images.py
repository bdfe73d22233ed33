"""The sample web's other pictures: real photos, logo, icons, ads, a promo, near-duplicates.

Photos come from scikit-image's bundled data (public-domain or freely licensed images that
ship inside the package, so nothing is downloaded). Everything else is drawn with PIL.
Encoders here fix every option, so the same input always gives the same bytes.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# skimage.data loader name -> what the photo shows (its ground-truth caption).
PHOTOS: dict[str, str] = {
    "astronaut": "Astronaut Eileen Collins in her flight suit, a portrait photo.",
    "chelsea": "Chelsea, a ginger tabby cat, sitting and looking to the side.",
    "rocket": "A rocket standing on its launch pad under a clear sky.",
    "hubble_deep_field": "Hundreds of distant galaxies in the Hubble Deep Field.",
    "immunohistochemistry": "A microscope image of stained tissue in brown and blue.",
    "coins": "Old Greek coins laid out in rows, in black and white.",
    "camera": "A photographer behind a camera on a tripod, in black and white.",
    "retina": "A photo of the back of a human eye, showing the retina and its blood vessels.",
}
STOCK_PHOTO = "coffee"  # the stock picture many articles reuse ("repeated")
STOCK_CAPTION = "A cup of coffee on a saucer, seen from above."
# file name -> (what the icon is called, its letter, its colour)
SOCIAL_ICONS: dict[str, tuple[str, str, tuple[int, int, int]]] = {
    "facebook": ("Facebook", "f", (59, 89, 152)),
    "twitter": ("Twitter", "t", (29, 161, 242)),
    "rss": ("RSS feed", "r", (238, 128, 42)),
    "email": ("Email", "@", (110, 110, 110)),
}
ADS: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("MEGA SALE", "-50% on everything", (200, 20, 60)),
    ("Cheap flights", "Fly anywhere from 9.99", (20, 110, 200)),
    ("Casino bonus", "Play now, win big", (20, 140, 60)),
    ("Learn to draw", "Online course, 3 months free", (120, 60, 160)),
    ("New phone", "Order today, pay later", (30, 30, 30)),
)
NEAR_DUPLICATE_VARIANTS = ("copy", "shift", "recolour", "jpeg")


def png_bytes(image: Image.Image) -> bytes:
    """Lossless, deterministic PNG bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    """Deterministic baseline JPEG bytes."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=False, progressive=False)
    return buf.getvalue()


def load_photo(name: str) -> Image.Image:
    """One of scikit-image's bundled photos as an RGB PIL image."""
    import skimage.data  # imported here: only generation needs it, not the server

    array = getattr(skimage.data, name)()
    if array.dtype != np.uint8:
        array = (array * 255).astype(np.uint8)
    return Image.fromarray(array).convert("RGB")


def scaled_photo(photo: Image.Image, width: int, crop: str = "full") -> Image.Image:
    """``photo`` scaled to ``width`` pixels wide; ``crop="detail"`` first takes its central half."""
    if crop == "detail":
        w, h = photo.size
        photo = photo.crop((w // 4, h // 4, w // 4 + w // 2, h // 4 + h // 2))
    elif crop != "full":
        raise ValueError(f"photo crop must be 'full' or 'detail', got {crop!r}")
    height = max(1, round(photo.height * width / photo.width))
    return photo.resize((width, height), Image.Resampling.LANCZOS)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def draw_logo(site_name: str) -> Image.Image:
    """The site logo: three coloured shapes and the site name."""
    image = Image.new("RGB", (200, 48), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.ellipse((6, 12, 28, 34), fill=(220, 30, 30))
    draw.rectangle((20, 20, 40, 40), fill=(40, 70, 220))
    draw.polygon([(30, 38), (50, 38), (40, 8)], fill=(240, 210, 20))
    draw.text((58, 14), site_name, fill=(20, 20, 20), font=_font(16))
    return image


def draw_icon(letter: str, colour: tuple[int, int, int], size: int = 24) -> Image.Image:
    """A social-media style icon: a letter on a coloured rounded square."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=5, fill=colour)
    draw.text((size / 2, size / 2), letter, fill=(255, 255, 255), font=_font(16), anchor="mm")
    return image


def draw_ad(headline: str, tagline: str, colour: tuple[int, int, int], seed: int) -> Image.Image:
    """A 300x100 banner ad: loud colours, a headline, a tagline and a button."""
    rng = random.Random(seed)
    image = Image.new("RGB", (300, 100), colour)
    draw = ImageDraw.Draw(image)
    for _ in range(6):  # background confetti, so ads are not flat like scenes
        x, y, r = rng.randrange(300), rng.randrange(100), rng.randrange(6, 30)
        shade = tuple(min(255, c + 40) for c in colour)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=shade)
    draw.text((12, 12), headline, fill=(255, 255, 255), font=_font(26))
    draw.text((12, 48), tagline, fill=(255, 255, 210), font=_font(14))
    draw.rounded_rectangle((200, 66, 290, 92), radius=6, fill=(255, 220, 0))
    draw.text((245, 79), "BUY NOW", fill=(0, 0, 0), font=_font(12), anchor="mm")
    return image


def draw_newsletter_promo() -> Image.Image:
    """The site's own "subscribe" graphic that many articles carry ("repeated")."""
    image = Image.new("RGB", (240, 60), (235, 242, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 15, 50, 45), outline=(40, 70, 220), width=3)
    draw.line((10, 15, 30, 32, 50, 15), fill=(40, 70, 220), width=3)
    draw.text((62, 12), "Subscribe to our", fill=(20, 20, 20), font=_font(14))
    draw.text((62, 32), "weekly newsletter", fill=(20, 20, 20), font=_font(14))
    return image


def near_duplicate(image: Image.Image, variant: str, rng: random.Random) -> tuple[bytes, str]:
    """Bytes and file extension of a near-duplicate of a scene image.

    ``copy``: the same PNG bytes under another URL; ``shift``: moved by one or two pixels;
    ``recolour``: every non-background pixel nudged by a few levels in one channel;
    ``jpeg``: re-encoded lossily.
    """
    if variant == "copy":
        return png_bytes(image), "png"
    if variant == "jpeg":
        return jpeg_bytes(image, quality=80), "jpg"
    array = np.asarray(image).copy()
    if variant == "shift":
        dx, dy = rng.choice((-2, -1, 1, 2)), rng.choice((-2, -1, 0, 1, 2))
        array = np.roll(array, (dy, dx), axis=(0, 1))  # scenes keep a white margin, so nothing wraps
    elif variant == "recolour":
        channel = rng.randrange(3)
        ink = (array != 255).any(axis=-1)
        delta = rng.choice((-3, -2, 2, 3))
        array[ink, channel] = np.clip(array[ink, channel].astype(int) + delta, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"near-duplicate variant must be one of {NEAR_DUPLICATE_VARIANTS}, got {variant!r}")
    return png_bytes(Image.fromarray(array)), "png"


def corrupt_bytes(rng: random.Random) -> bytes:
    """What a broken server sends at an image URL: an HTML error page followed by junk bytes."""
    junk = bytes(rng.randrange(256) for _ in range(200))
    return b"<html><body><h1>503 Service Unavailable</h1></body></html>\n" + junk
