"""Extraction: our ``extract_page`` against trafilatura on the same real pages, same process.

Pages: the 38 saved pages of ``../shared/fixtures/html`` (served-from URL taken from their
canonical link or og:url) and every HTML response record of the WARC fixtures (with their
URL and Content-Type header). Both extractors get the raw bytes and the URL, so each does
its own charset detection; trafilatura runs with ``include_images=True,
include_comments=False`` and XML output (its images are its ``<graphic>`` elements).

Speed is pages per second per core: single process, CPU time of the best of N rounds,
the two extractors alternating round by round after one warm-up pass each. Yield is
counted on the last round's output:

- images kept by each, and how many of them the other also kept: "same URL" is exact
  equality after resolving against the page URL; "same picture" also equates renditions
  of one picture (query string dropped, ``-300x200`` / ``@2x`` / ``220px-`` size markers
  removed), since we pick the largest ``srcset`` rendition and trafilatura the ``src``;
- text characters kept by each, and word agreement: the share of trafilatura's words
  (as a multiset) that our text also has, and the reverse.

Ratios are printed, nothing is asserted. Needs trafilatura: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from warcio.archiveiterator import ArchiveIterator

from dataengine.extract import RefusedCharsetError, TooComplexError, UndecodableError, extract_page

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
_CANONICAL = re.compile(rb"<link[^>]+rel=[\"']canonical[\"'][^>]*href=[\"'](https?://[^\"']+)", re.I)
_OG_URL = re.compile(rb"property=[\"']og:url[\"'][^>]*content=[\"'](https?://[^\"']+)", re.I)
_SIZE_MARKERS = re.compile(r"(?:-\d+x\d+|@\dx)+(?=\.\w+$)|/\d+px-(?=[^/]+$)")
_WORD = re.compile(r"\w+")


@dataclass
class Page:
    """One input page: where it came from, its URL, headers and bytes."""

    source: str  # "html" or "warc"
    name: str  # file name of a saved page, URL of a WARC record
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Output:
    """What one extractor kept of one page."""

    image_urls: list[str]
    inline_images: int  # data: images (ours only; trafilatura drops them)
    text: str


def load_pages(fixtures: Path) -> list[Page]:
    """The saved HTML pages and the HTML responses of the WARC fixtures."""
    pages = []
    for path in sorted((fixtures / "html").glob("*.html")):
        body = path.read_bytes()
        match = _CANONICAL.search(body) or _OG_URL.search(body)
        url = match.group(1).decode("ascii", "replace") if match else f"http://fixture.invalid/{path.name}"
        pages.append(Page("html", path.name, url, {}, body))
    for path in sorted((fixtures / "warc").glob("*.warc.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                content_type = record.http_headers.get_header("Content-Type") or ""
                if "html" not in content_type.lower():
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI") or ""
                pages.append(Page("warc", url, url, {"content-type": content_type},
                                  record.content_stream().read()))
    return pages


def run_ours(page: Page) -> Output:
    """Our extraction; a page the extractor refuses (undecodable, refused charset, too complex) keeps nothing."""
    try:
        result = extract_page(page.body, page.url, page.headers)
    except (UndecodableError, RefusedCharsetError, TooComplexError):
        return Output([], 0, "")
    urls = [i.url for i in result.images if i.url and i.status != "failed"]
    inline = sum(1 for i in result.images if i.url is None and i.status != "failed")
    return Output(urls, inline, "\n".join(s.text or "" for s in result.segments if s.kind == "text"))


def run_trafilatura(page: Page) -> Output:
    """trafilatura with images, without comments, as XML."""
    import trafilatura
    from lxml import etree

    xml = trafilatura.extract(page.body, url=page.url, include_images=True, include_comments=False,
                              output_format="xml")
    if not xml:
        return Output([], 0, "")
    root = etree.fromstring(xml.encode("utf-8"))
    urls = [urljoin(page.url, g.get("src")) for g in root.iter("graphic") if g.get("src")]
    text = "\n".join(t for element in root.iter() if element.tag != "graphic"
                     for t in (element.text, element.tail) if t and t.strip())
    return Output(urls, 0, text)


def same_picture(url: str) -> str:
    """A key equal for renditions of one picture: host and path without size markers."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}{_SIZE_MARKERS.sub('', parts.path)}"


def timed_round(extract, pages: list[Page]) -> tuple[float, float, list[Output]]:
    """CPU seconds and wall seconds of one pass over ``pages``, with the outputs."""
    cpu, wall = time.process_time(), time.perf_counter()
    outputs = [extract(page) for page in pages]
    return time.process_time() - cpu, time.perf_counter() - wall, outputs


def word_recall(reference: str, candidate: str) -> tuple[int, int]:
    """(words of ``reference`` also in ``candidate``, words of ``reference``), as multisets."""
    ref = Counter(_WORD.findall(reference.lower()))
    got = Counter(_WORD.findall(candidate.lower()))
    return sum((ref & got).values()), sum(ref.values())


def report(label: str, pages: list[Page], ours: list[Output], theirs: list[Output]) -> None:
    """Print image and text yield of both extractors on ``pages``."""
    counts = Counter()
    only_ours, only_theirs = Counter(), Counter()
    for page, a, b in zip(pages, ours, theirs):
        counts["ours"] += len(a.image_urls) + a.inline_images
        counts["inline"] += a.inline_images
        counts["theirs"] += len(b.image_urls)
        counts["same_url"] += len(set(a.image_urls) & set(b.image_urls))
        ours_keys = {same_picture(u) for u in a.image_urls}
        theirs_keys = {same_picture(u) for u in b.image_urls}
        counts["same_picture"] += len(ours_keys & theirs_keys)
        only_ours[page.name] = len(ours_keys - theirs_keys)
        only_theirs[page.name] = len(theirs_keys - ours_keys)
        counts["theirs_pictures"] += len(theirs_keys)
        counts["ours_pictures"] += len(ours_keys)
        counts["ours_chars"] += len(a.text)
        counts["theirs_chars"] += len(b.text)
        hit, total = word_recall(b.text, a.text)
        counts["recall_hit"] += hit
        counts["recall_total"] += total
        hit, total = word_recall(a.text, b.text)
        counts["precision_hit"] += hit
        counts["precision_total"] += total
    print(f"  {label} ({len(pages)} pages)")
    print(f"    images kept          ours {counts['ours']:5d} (of which data: {counts['inline']})"
          f"   trafilatura {counts['theirs']:5d}")
    print(f"    same URL             {counts['same_url']:5d}")
    print(f"    same picture         {counts['same_picture']:5d} = "
          f"{_share(counts['same_picture'], counts['theirs_pictures'])}"
          f" of trafilatura's pictures, {_share(counts['same_picture'], counts['ours_pictures'])} of ours")
    print(f"    only ours / only trafilatura (pictures)  {counts['ours_pictures'] - counts['same_picture']}"
          f" / {counts['theirs_pictures'] - counts['same_picture']}")
    for who, per_page in (("ours", only_ours), ("trafilatura's", only_theirs)):
        top = ", ".join(f"{name[:56]} {n}" for name, n in per_page.most_common(3) if n)
        print(f"      most pictures only in {who}: {top or '-'}")
    print(f"    text chars           ours {counts['ours_chars']:7d}   trafilatura {counts['theirs_chars']:7d}")
    print(f"    words of trafilatura's text in ours {_share(counts['recall_hit'], counts['recall_total'])},"
          f" words of ours in trafilatura's {_share(counts['precision_hit'], counts['precision_total'])}")


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  n/a"


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per extractor (best one counts)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("trafilatura") is None:
        print("bench/extraction.py needs trafilatura: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    if not FIXTURES.is_dir():
        print(f"bench/extraction.py: fixtures not found at {FIXTURES}", file=sys.stderr)
        return 1
    pages = load_pages(FIXTURES)
    print(f"extraction: {len(pages)} pages ({sum(p.source == 'html' for p in pages)} saved pages, "
          f"{sum(p.source == 'warc' for p in pages)} WARC records), {sum(len(p.body) for p in pages) / 1e6:.1f} MB")
    extractors = {"ours": run_ours, "trafilatura": run_trafilatura}
    for extract in extractors.values():  # warm-up: imports, first-call caches
        for page in pages:
            extract(page)
    best = {name: (float("inf"), float("inf")) for name in extractors}
    outputs: dict[str, list[Output]] = {}
    for round_index in range(args.rounds):
        for name, extract in extractors.items():
            cpu, wall, outputs[name] = timed_round(extract, pages)
            best[name] = min(best[name], (cpu, wall))
            print(f"  round {round_index + 1}/{args.rounds} {name:12s} cpu {cpu:6.2f} s  wall {wall:6.2f} s",
                  flush=True)
    rate = {name: len(pages) / cpu for name, (cpu, _) in best.items()}
    print(f"  pages/s per core     ours {rate['ours']:7.1f}   trafilatura {rate['trafilatura']:7.1f}"
          f"   ratio {rate['ours'] / rate['trafilatura']:.1f}x")
    for source, label in (("html", "saved pages"), ("warc", "WARC records"), (None, "all")):
        chosen = [i for i, p in enumerate(pages) if source is None or p.source == source]
        report(label, [pages[i] for i in chosen], [outputs["ours"][i] for i in chosen],
               [outputs["trafilatura"][i] for i in chosen])
    return 0


if __name__ == "__main__":
    sys.exit(main())
