"""The image fetcher's pixel budget: a page of huge images is decoded a few at a time.

A loopback server serves one page's worth of 7900 x 7900 images (solid colours, so they are
small on the wire and as large as any photo once decoded); the fetcher runs on them in a
subprocess, whose peak resident memory is what is measured.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from fault_server import FaultServer, encode, photo
from PIL import Image

from dataengine.images.fetch import ImageFetcher
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, SourceRef

SIDE = 7900  # 62 million pixels, under the default max_pixels
# Decoding holds at most about 10 bytes per pixel of the default 128-million pixel budget:
# 1.28 GB, with a margin for the rest. Without a budget this page took 4.6 GB.
MAX_GROWTH_MB = 1500

# The child measures its resident memory once everything is imported and warm (a small image
# first), then fetches the page. Its address space is capped a few GB above that, so that a
# fetcher without a bound fails here instead of taking the memory of the machine.
CHILD = """
import json, os, resource, sys
from dataengine.images.fetch import ImageFetcher
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, SourceRef

args = json.loads(sys.argv[1])
stage = ImageFetcher(allow_private=["127.0.0.0/8"], retries=0, image_size=512)
def document(urls):
    return Document("doc0", "http://127.0.0.1/page", SourceRef("crawl", "test"),
                    images=[ImageRecord(i, url) for i, url in enumerate(urls)])
assert stage(Batch("warm", [document([args["warm"]])])).docs[0].images[0].status == "ok"
page = 4096
base = int(open("/proc/self/statm").read().split()[1]) * page
size = int(open("/proc/self/statm").read().split()[0]) * page
resource.setrlimit(resource.RLIMIT_AS, (size + args["headroom"], size + args["headroom"]))
doc = document(args["urls"])
batch = stage(Batch("p0", [doc]))
# VmHWM, not ru_maxrss, which keeps the forking parent's (the test runner's) size across exec
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
print(json.dumps({"growth_mb": (peak - base) / 2**20,
                  "images": [[i.status, i.error, i.width, i.height] for i in doc.images],
                  "rejected": [[r.image_index, r.reason] for r in batch.rejected]}))
"""


def _solid(mode: str, fmt: str) -> bytes:
    colour = {"RGB": (200, 30, 60), "RGBA": (20, 120, 200, 128)}[mode]
    return encode(Image.new(mode, (SIDE, SIDE), colour), fmt)


@pytest.fixture(scope="module")
def page():
    """A server with eight 7900 x 7900 images, and their URLs: PNGs (RGB, RGBA) and JPEGs."""
    with FaultServer() as server:
        kinds = {"rgb.png": (_solid("RGB", "PNG"), 4), "rgba.png": (_solid("RGBA", "PNG"), 1),
                 "rgb.jpg": (_solid("RGB", "JPEG"), 3)}
        urls = []
        for name, (data, copies) in kinds.items():
            url = server.add(f"/big/{name}", data, "image/png" if name.endswith("png") else "image/jpeg")
            urls += [f"{url}?copy={i}" for i in range(copies)]
        yield server, urls


def test_a_page_of_huge_images_is_decoded_within_the_budget(page):
    server, urls = page
    args = {"urls": urls, "warm": server("ok/rocket.jpg"), "headroom": 4 * 2**30}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # every image came through, resized, or is a rejection with its reason: none dropped
    assert result["images"] == [["ok", None, 512, 512]] * len(urls), result
    assert result["rejected"] == []
    assert result["growth_mb"] < MAX_GROWTH_MB, result["growth_mb"]


def test_an_image_that_can_never_fit_is_rejected_and_a_jpeg_counts_at_its_decoded_scale(page):
    server, _ = page
    png = server.add("/budget/big.png", encode(photo("camera").resize((3000, 3000)), "PNG"), "image/png")
    buf = io.BytesIO()
    photo("rocket").resize((4000, 2670)).save(buf, "JPEG")  # 10.7 megapixels, decoded at 1/8
    jpeg = server.add("/budget/big.jpg", buf.getvalue(), "image/jpeg")
    doc = Document("doc0", "http://127.0.0.1/page", SourceRef("crawl", "test"),
                   images=[ImageRecord(0, png), ImageRecord(1, jpeg)])
    stage = ImageFetcher(allow_private=["127.0.0.0/8"], image_size=256, pixel_budget=4_000_000)
    batch = stage(Batch("p0", [doc]))
    assert [i.status for i in doc.images] == ["failed", "ok"]
    [row] = batch.rejected
    assert (row.reason, row.image_index, row.value, row.threshold) == ("too_many_pixels", 0, 9e6, 4e6)
    assert (doc.images[1].width, doc.images[1].height) == (256, 171)
    assert stage.processor.budget.held == 0  # every hold was given back


def test_pixel_budget_must_be_positive():
    with pytest.raises(ValueError, match="pixel_budget"):
        ImageFetcher(pixel_budget=0)
