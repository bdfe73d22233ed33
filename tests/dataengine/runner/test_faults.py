"""The fault suite: a pipeline run against a hostile loopback web.

The fault server (tests/fault_server.py) serves a sitemap listing good pages and page-level
faults, and an article whose images point at every image-level fault. The run must complete,
every fault must end as a ``rejected`` row whose reason names that fault and no other, and
everything good (pages, images, the slots of failed images) must come through.

Decided per case and checked here as kept: CMYK JPEGs and 16-bit PNGs are converted to 8-bit
RGB (img2dataset's resizer decodes CMYK; 16-bit is scaled first), EXIF-rotated photos are
turned upright, a 503 that clears after its ``Retry-After`` is retried, and HTML whose declared
charset is wrong is decoded by what its bytes are (the extractor's charset rules). Animated
images and SVG are rejected (``animated_image``, ``unsupported_format:svg``).
"""

from __future__ import annotations

import pytest
from fault_server import CHARSET_TEXT, GOOD, LARGE_BYTES, FaultServer

from dataengine.catalog.catalog import Catalog
from dataengine.catalog.validate import validate_corpus
from dataengine.runner.config import parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards import iter_corpus

LOOPBACK = ["127.0.0.0/8"]  # the fault server, and no other private address

# fault -> (the one reason it must be rejected with, the paths that inject it)
IMAGE_FAULTS = {
    "404": ("http_404", ["status/404"]),
    "410": ("http_410", ["status/410"]),
    "500": ("http_500", ["status/500"]),
    "503 with Retry-After": ("http_503", ["status/503"]),
    "429": ("http_429", ["status/429"]),
    "connection reset": ("connection_reset", ["fault/reset"]),
    "read timeout": ("read_timeout", ["fault/stall"]),
    "slow drip": ("download_too_slow", ["fault/drip"]),
    "redirect loop": ("redirect_loop", ["redirect/loop-a"]),
    "too many redirects": ("too_many_redirects", ["redirect/chain/9"]),
    "redirect to a refused scheme": ("refused_scheme", ["redirect/ftp", "redirect/file"]),
    "redirect to a refused address": ("refused_address", ["redirect/private", "redirect/metadata"]),
    "body over the size limit": ("body_too_large", ["img/too-large.jpg", "img/too-large-unsized.jpg"]),
    "wrong content type": ("wrong_content_type", ["img/wrong-type.jpg"]),
    "not an image": ("not_an_image", ["img/not-image.jpg"]),
    "truncated image": ("truncated_image", ["img/truncated.jpg"]),
    "corrupt image": ("corrupt_image", ["img/corrupt.jpg"]),
    "decompression bomb": ("too_many_pixels", ["img/bomb.png"]),
    "animated image": ("animated_image", ["img/animated.gif", "img/animated.webp"]),
    "svg": ("unsupported_format:svg", ["img/drawing.svg"]),
    "X-Robots-Tag noai": ("optout_noai", ["img/noai.jpg"]),
    "tdm-reservation": ("optout_tdm", ["img/tdm.jpg"]),
    "robots.txt disallow": ("robots_disallowed", ["private/photo.jpg"]),
}
KEPT_IMAGES = [f"ok/{name}" for name in GOOD] + [
    "img/cmyk.jpg", "img/16bit.png", "img/rotated.jpg", "flaky/article-image", "redirect/ok", "redirect/chain/2"]

PAGE_FAULTS = {
    "404": ("http_404", ["status/404"]),
    "410": ("http_410", ["status/410"]),
    "500": ("http_500", ["status/500"]),
    "503 with Retry-After": ("http_503", ["status/503"]),
    "429": ("http_429", ["status/429"]),
    "connection reset": ("connection_reset", ["fault/reset"]),
    "read timeout": ("read_timeout", ["fault/stall"]),
    "slow drip": ("download_too_slow", ["fault/drip-page"]),
    "redirect loop": ("redirect_loop", ["redirect/loop-a"]),
    "redirect to a refused scheme": ("refused_scheme", ["redirect/file"]),
    "redirect to a refused address": ("refused_address", ["redirect/metadata"]),
    "body over the size limit": ("body_too_large", ["pages/huge.html"]),
    "wrong content type": ("wrong_content_type", ["ok/rocket.jpg"]),
    "robots.txt disallow": ("robots_disallowed", ["private/page.html"]),
}
KEPT_PAGES = ["pages/article.html", "pages/charset-header-utf8.html", "pages/charset-meta-latin1.html"]


def _article(server: FaultServer, image_paths: list[str]) -> str:
    body = []
    for i, path in enumerate(image_paths):
        body.append(f"<p>Entry {i} of the field notes says what the photograph below shows, in words enough "
                    "for the extractor to count it as the main content of this page.</p>")
        body.append(f'<figure><img src="{server(path)}" alt="Photo {i}"><figcaption>Figure {i}</figcaption></figure>')
    return ("<html><head><title>Field notes</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>Field notes</h1>{''.join(body)}</article><footer>Contact</footer></body></html>")


def _sitemap(server: FaultServer, paths: list[str]) -> str:
    locs = "".join(f"<url><loc>{server(path)}</loc></url>" for path in paths)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'


def _paths(faults: dict[str, tuple[str, list[str]]]) -> dict[str, str]:
    return {path: reason for reason, paths in faults.values() for path in paths}


@pytest.mark.parametrize("faults", [IMAGE_FAULTS, PAGE_FAULTS])
def test_each_fault_has_a_reason_of_its_own(faults):
    assert len({reason for reason, _ in faults.values()}) == len(faults)


@pytest.mark.slow
def test_fault_suite(ray_session, tmp_path):
    image_paths = [p for _, paths in IMAGE_FAULTS.values() for p in paths] + KEPT_IMAGES
    page_faults = _paths(PAGE_FAULTS)
    with FaultServer() as server:
        server.add("/pages/article.html", _article(server, image_paths))
        server.add("/pages/huge.html", "<html><body><p>" + "big " * LARGE_BYTES + "</p></body></html>")
        sitemap = server.add("/sitemap.xml", _sitemap(server, KEPT_PAGES + list(page_faults)), "application/xml")
        config = parse_pipeline({
            "name": "faults",
            "source": {"kind": "sitemap", "url": sitemap, "pages_per_partition": 6, "allow_private": LOOPBACK,
                       "timeout": 1, "max_seconds": 2, "retries": 1, "max_body_bytes": LARGE_BYTES},
            "stages": [{"name": "extract_html"},
                       {"name": "fetch_images", "params": {
                           "timeout": 1, "max_seconds": 2, "retries": 1, "backoff": 0.1, "max_bytes": LARGE_BYTES,
                           "allow_private": LOOPBACK, "image_size": 256, "threads": 16, "max_per_host": 16},
                        "resources": {"concurrency": 1}}],  # as a Ray actor, as a YAML would ask for
        })
        result = run_pipeline(config, str(tmp_path / "corpus"))

    assert result.partitions_done == result.partitions_total == 3  # the run completed
    corpus = str(tmp_path / "corpus")
    assert validate_corpus(corpus) == []
    with Catalog(corpus) as cat:
        rows = cat.arrow("select level, stage, url, reason from rejected").to_pylist()
    got = {(r["level"], r["url"]): r["reason"] for r in rows}
    assert len(got) == len(rows), "a fault was reported twice"
    expected = {("document", server(p)): reason for p, reason in page_faults.items()}
    expected |= {("image", server(p)): reason for p, reason in _paths(IMAGE_FAULTS).items()}
    assert got == expected  # every fault, with its own reason, and nothing else rejected
    assert {r["stage"] for r in rows if r["level"] == "image"} == {"fetch_images"}

    docs = {doc.url: doc for doc in iter_corpus(corpus)}
    assert sorted(docs) == sorted(server(p) for p in KEPT_PAGES)
    article = docs[server("pages/article.html")]
    assert [image.url for image in article.images] == [server(p) for p in image_paths]  # every slot, in order
    fault_reasons = _paths(IMAGE_FAULTS)
    for path, image in zip(image_paths, article.images):
        if path in fault_reasons:
            assert (image.status, image.error, image.data) == ("failed", fault_reasons[path], None), path
        else:
            assert image.status == "ok" and image.data and image.format == "jpeg", path
            assert max(image.width, image.height) <= 256
    image_segments = [s.image for s in article.segments if s.kind == "image"]
    assert image_segments == list(range(len(image_paths)))
    for path in KEPT_PAGES[1:]:  # the wrong charset declaration did not garble the text
        text = docs[server(path)].text
        assert CHARSET_TEXT.strip() in text and "Ã" not in text
