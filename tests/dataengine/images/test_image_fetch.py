"""The ``fetch_images`` stage on a real loopback server: what it keeps, how, and how politely.

No Ray here: the stage is called on documents directly. The fault suite (test_faults.py)
runs the same stage inside a pipeline.
"""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import numpy as np
import pytest
from fault_server import GOOD, FaultServer, encode, photo
from PIL import Image

from dataengine.images.fetch import ImageFetcher
from dataengine.images.process import ImageProcessor, ResizeConfig
from dataengine.net.addresses import AddressPolicy, AddressRefused
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, SourceRef

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def server():
    with FaultServer() as srv:
        yield srv


def fetch(urls: list[str], **params) -> tuple[Document, Batch]:
    """Run a fresh stage on one document whose images are ``urls``."""
    doc = Document("doc0", "http://127.0.0.1/page", SourceRef("crawl", "test"),
                   images=[ImageRecord(i, url) for i, url in enumerate(urls)])
    stage = ImageFetcher(**{"allow_private": LOOPBACK, "retries": 1, "backoff": 0.05, **params})
    batch = stage(Batch("p0", [doc]))
    return doc, batch


def pixels(image: ImageRecord) -> np.ndarray:
    with Image.open(io.BytesIO(image.data)) as im:
        assert im.size == (image.width, image.height)
        return np.asarray(im.convert("RGB")).astype(float)


def test_good_images_are_resized_described_and_kept(server):
    urls = [server(f"ok/{name}") for name in GOOD] + [server("redirect/ok"), server("redirect/chain/3")]
    doc, batch = fetch(urls, image_size=256)
    assert batch.rejected == [] and batch.docs == [doc]
    for image in doc.images:
        assert image.status == "ok" and image.error is None
        assert image.format == "jpeg" and image.data[:3] == b"\xff\xd8\xff"
        assert image.sha256 == hashlib.sha256(image.data).hexdigest()
        assert max(image.width, image.height) == 256  # keep_ratio_largest: the longer side
        pixels(image)
    rocket = doc.images[list(GOOD).index("rocket.jpg")]
    assert (rocket.width, rocket.height) == (256, 171)  # 640x427, aspect kept
    assert doc.provenance == [{"stage": "fetch_images", "version": ImageFetcher.version}]


@pytest.mark.parametrize("params, size, fmt", [
    ({"encode_format": "png", "encode_quality": 1}, (512, 512), "png"),
    ({"encode_format": "webp", "encode_quality": 80, "image_size": 100, "resize_mode": "center_crop"},
     (100, 100), "webp"),
    ({"image_size": 2048, "resize_only_if_bigger": True}, (512, 512), "jpeg"),
])
def test_resize_modes_and_output_formats(server, params, size, fmt):
    doc, _ = fetch([server("ok/astronaut.jpg")], **params)
    image = doc.images[0]
    assert (image.status, image.format, (image.width, image.height)) == ("ok", fmt, size)
    with Image.open(io.BytesIO(image.data)) as im:
        assert im.format.lower() == fmt


def test_skip_reencode_keeps_the_original_bytes(server):
    doc, _ = fetch([server("ok/astronaut.jpg")], skip_reencode=True)
    assert doc.images[0].data == encode(photo("astronaut"), "JPEG")  # a JPEG needing no resize


def test_cmyk_16bit_and_exif_orientation_are_converted_and_kept(server):
    doc, batch = fetch([server("img/cmyk.jpg"), server("img/16bit.png"), server("img/rotated.jpg"),
                        server("ok/rocket.jpg")], image_size=256)
    assert batch.rejected == []
    cmyk, sixteen, rotated, upright = doc.images
    # colours survive the CMYK -> RGB conversion (an inverted or raw CMYK decode would not)
    expected = np.asarray(photo("coffee").resize((cmyk.width, cmyk.height))).astype(float)
    assert np.abs(pixels(cmyk).mean(axis=(0, 1)) - expected.mean(axis=(0, 1))).max() < 4
    # 16-bit values are scaled, not clipped to white
    gray = np.asarray(photo("astronaut").convert("L")).astype(float)
    assert abs(pixels(sixteen).mean() - gray.mean()) < 2
    # stored sideways with Orientation 6: kept upright, like the same photo stored upright
    assert (rotated.width, rotated.height) == (upright.width, upright.height) == (256, 171)
    assert np.abs(pixels(rotated) - pixels(upright)).mean() < 4


def test_data_uris_and_bytes_from_the_extractor(server):
    png = encode(photo("chelsea").resize((90, 60)), "PNG")
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    doc = Document("doc1", "http://127.0.0.1/page", SourceRef("crawl", "test"), images=[
        ImageRecord(0, uri), ImageRecord(1, None, data=png), ImageRecord(2, "data:image/png;base64,@@@"),
        ImageRecord(3, server("ok/rocket.jpg"), status="ok", data=b"kept as is")])
    batch = ImageFetcher(allow_private=LOOPBACK)(Batch("p0", [doc]))
    assert [i.status for i in doc.images] == ["ok", "ok", "failed", "ok"]
    assert (doc.images[0].width, doc.images[0].height) == (90, 60) == (doc.images[1].width, doc.images[1].height)
    assert doc.images[3].data == b"kept as is"  # not pending: not touched
    [row] = batch.rejected
    assert (row.reason, row.level, row.image_index, row.url) == ("bad_data_uri", "image", 2, doc.url)


def test_failures_keep_their_slot_and_get_a_row(server):
    urls = [server("ok/astronaut.jpg"), server("status/404"), server("img/drawing.svg"), server("ok/coffee.png")]
    doc, batch = fetch(urls)
    assert [i.status for i in doc.images] == ["ok", "failed", "failed", "ok"]
    assert [i.error for i in doc.images] == [None, "http_404", "unsupported_format:svg", None]
    assert all(i.data is None for i in doc.images if i.status == "failed")
    assert [(r.reason, r.image_index, r.url, r.level, r.stage) for r in batch.rejected] == [
        ("http_404", 1, urls[1], "image", "fetch_images"),
        ("unsupported_format:svg", 2, urls[2], "image", "fetch_images")]
    assert batch.counts["fetch_images"]["image:http_404"] == 1


def test_robots_is_fetched_once_per_host_and_per_host_concurrency_holds():
    with FaultServer() as srv:
        urls = [srv(f"ok/{name}?n={i}") for i in range(6) for name in GOOD] + [srv("private/photo.jpg")]
        doc, batch = fetch(urls, threads=16, max_per_host=2, user_agent="dataengine-test/1.0")
        assert [r.path for r in srv.requests].count("/robots.txt") == 1
        assert srv.max_in_flight <= 2
        assert {r.user_agent for r in srv.requests} == {"dataengine-test/1.0"}
    assert [r.reason for r in batch.rejected] == ["robots_disallowed"]
    assert sum(i.status == "ok" for i in doc.images) == len(urls) - 1


def test_retry_after_is_honoured(server):
    doc, _ = fetch([server("flaky/retry-after")], retries=2)
    assert doc.images[0].status == "ok"
    times = [r.time for r in server.requests if r.path == "/flaky/retry-after"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95  # the server asked for 1 s


def test_a_host_asking_for_a_long_wait_is_not_retried(server):
    _, batch = fetch([server("status/503")], retries=3, max_retry_wait=0.5)
    assert [r.reason for r in batch.rejected] == ["http_503"]
    assert "asked to wait" in batch.rejected[0].detail


def test_private_addresses_are_refused_before_connecting(server):
    before = len(server.requests)
    _, batch = fetch([server("ok/astronaut.jpg")], allow_private=False)
    assert [r.reason for r in batch.rejected] == ["refused_address"]
    assert len(server.requests) == before  # not even robots.txt was asked for


def test_address_policy():
    loopback_only = AddressPolicy(LOOPBACK)
    assert loopback_only.resolve("127.0.0.1", 80) == "127.0.0.1"
    for literal in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "::ffff:10.0.0.1", "fe80::1", "192.168.1.1"):
        with pytest.raises(AddressRefused, match="refused_address"):
            loopback_only.resolve(literal, 80)  # an IP literal: judged without DNS or connection
    assert AddressPolicy(True).resolve("169.254.169.254", 80) == "169.254.169.254"
    assert AddressPolicy(False).resolve("8.8.8.8", 80) == "8.8.8.8"
    with pytest.raises(ValueError, match="allow_private"):
        AddressPolicy(["not a network"])


def test_retry_after_values():
    from dataengine.net.retry import retry_after

    assert retry_after("3") == 3.0 and retry_after(" 7 ") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    assert 3500 < retry_after(format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)) <= 3600
    assert retry_after("soon") is None and retry_after(None) is None


def test_processor_rejects_bad_settings_by_name():
    with pytest.raises(ValueError, match="resize_mode"):
        ImageProcessor(ResizeConfig(resize_mode="stretch"))
    with pytest.raises(ValueError, match="encode format"):
        ImageProcessor(ResizeConfig(encode_format="gif"))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_matted_onto_white_as_the_resizer_would(server, mode):
    rgb = photo("chelsea").resize((300, 200))
    alpha = Image.linear_gradient("L").resize(rgb.size)  # from opaque at the top to clear at the bottom
    if mode == "P":  # a palette with one transparent entry
        image = rgb.quantize(64)
        image.info["transparency"] = image.getpixel((0, 0))
    else:
        image = rgb.convert("RGB" if mode == "RGBA" else "L")
        image.putalpha(alpha)
    url = server.add(f"/alpha/{mode}.png", encode(image, "PNG"), "image/png")
    doc, batch = fetch([url], encode_format="png", encode_quality=1)
    assert batch.rejected == [] and (doc.images[0].width, doc.images[0].height) == rgb.size
    rgba = np.asarray(image.convert("RGBA")).astype(float)
    a = rgba[..., 3:] / 255
    expected = a * rgba[..., :3] + 255 * (1 - a)  # img2dataset's matting, in float
    if mode == "LA":
        expected = expected.mean(axis=2, keepdims=True).repeat(3, axis=2)
    assert np.abs(pixels(doc.images[0]) - expected).max() <= 2
