"""How extraction quality is measured: snippets of main text, and in-content images in reading order.

Both ``bench/extraction.py`` and the regression floors in the tests score with these, on two
labelled sets of real pages:

- ``extraction-eval`` (trafilatura's evaluation set): per page, snippets the main text must
  contain and boilerplate snippets it must not, scored as trafilatura scores them (a snippet
  counts when found in the text with whitespace collapsed and entities decoded);
- the image labels (``tests/dataengine/extract/image_labels.json``): per page of the saved-page
  and WARC fixtures, the URLs of its in-content images in reading order. Renditions of one
  picture count as the same picture (``picture_key``), since extractors pick different ones
  from a ``srcset``. Image F1 pools matches over all pages; order is the longest common
  subsequence of the extracted and the labelled sequences over the longer of the two, pooled
  the same way, so missing, extra and misplaced pictures all cost.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

_SPACES = re.compile(r"\s+")
# Size markers of one picture's renditions: "-300x200.jpg", "@2x.png", Wikimedia's "/220px-".
_SIZE_MARKERS = re.compile(r"(?:-\d+x\d+|@\dx)+(?=\.\w+$)|/\d+px-(?=[^/]+$)")
_CANONICAL = re.compile(rb"<link[^>]+rel=[\"']canonical[\"'][^>]*href=[\"'](https?://[^\"']+)", re.I)
_OG_URL = re.compile(rb"property=[\"']og:url[\"'][^>]*content=[\"'](https?://[^\"']+)", re.I)


def normalize_snippet_text(text: str) -> str:
    """Text as snippets are matched against it: entities decoded, whitespace collapsed."""
    return _SPACES.sub(" ", html.unescape(text)).strip()


@dataclass
class SnippetScore:
    """Counts of snippets found and missed, pooled over pages."""

    true_pos: int = 0  # a main-text snippet found
    false_neg: int = 0  # a main-text snippet missing
    false_pos: int = 0  # a boilerplate snippet found
    true_neg: int = 0  # a boilerplate snippet absent

    def add(self, text: str, wanted: list[str], unwanted: list[str]) -> None:
        """Score one page's extracted ``text`` against its snippets."""
        text = normalize_snippet_text(text)
        found = sum(normalize_snippet_text(s) in text for s in wanted)
        leaked = sum(normalize_snippet_text(s) in text for s in unwanted)
        self.true_pos += found
        self.false_neg += len(wanted) - found
        self.false_pos += leaked
        self.true_neg += len(unwanted) - leaked

    @property
    def precision(self) -> float:
        """Share of the snippets found that are main text."""
        return self.true_pos / max(1, self.true_pos + self.false_pos)

    @property
    def recall(self) -> float:
        """Share of the main-text snippets found."""
        return self.true_pos / max(1, self.true_pos + self.false_neg)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def picture_key(url: str) -> str:
    """A key equal for renditions of one picture: host and path without size markers or query."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}{_SIZE_MARKERS.sub('', parts.path)}"


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


@dataclass
class ImageScore:
    """Pictures extracted, labelled, matched and in order, pooled over pages."""

    extracted: int = 0
    labelled: int = 0
    matched: int = 0
    in_order: int = 0  # longest common subsequence, summed over pages
    longer: int = 0  # the longer of the two sequences, summed over pages
    per_page: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name: (extracted, labelled, matched)

    def add(self, name: str, extracted: list[str], labelled: list[str]) -> None:
        """Score one page's extracted image URLs against its labelled ones (both in reading order)."""
        got = list(dict.fromkeys(picture_key(u) for u in extracted))
        want = list(dict.fromkeys(picture_key(u) for u in labelled))
        matched = sum((Counter(got) & Counter(want)).values())
        self.extracted += len(got)
        self.labelled += len(want)
        self.matched += matched
        self.in_order += _lcs(got, want)
        self.longer += max(len(got), len(want))
        self.per_page[name] = (len(got), len(want), matched)

    @property
    def precision(self) -> float:
        """Share of the extracted pictures that are labelled in-content pictures."""
        return self.matched / max(1, self.extracted)

    @property
    def recall(self) -> float:
        """Share of the labelled pictures extracted."""
        return self.matched / max(1, self.labelled)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def order(self) -> float:
        """Pictures in the labelled reading order, over the longer sequence of each page (1.0 if none anywhere)."""
        return self.in_order / self.longer if self.longer else 1.0


@dataclass
class Page:
    """One input page: where it came from, its name in the labels, its URL, headers and bytes."""

    source: str  # "html" (a saved page), "warc" (a WARC response record) or "eval" (extraction-eval)
    name: str
    url: str
    headers: dict[str, str]
    body: bytes


def saved_page_url(body: bytes, name: str) -> str:
    """The address a saved page was served from: its canonical link or og:url."""
    match = _CANONICAL.search(body) or _OG_URL.search(body)
    return match.group(1).decode("ascii", "replace") if match else f"http://fixture.invalid/{name}"


def labelled_pages(fixtures: Path) -> list[Page]:
    """The pages the image labels cover: the saved pages and the HTML responses of the WARC fixtures."""
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    for path in sorted((fixtures / "html").glob("*.html")):
        body = path.read_bytes()
        pages.append(Page("html", path.name, saved_page_url(body, path.name), {}, body))
    for path in sorted((fixtures / "warc").glob("*.warc.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                content_type = record.http_headers.get_header("Content-Type") or ""
                if "html" not in content_type.lower():
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI") or ""
                pages.append(Page("warc", f"{path.name} {url}", url, {"content-type": content_type},
                                  record.content_stream().read()))
    return pages


def eval_pages(fixtures: Path) -> tuple[list[Page], dict[str, dict]]:
    """The extraction-eval pages and their gold snippets (``{"with": [...], "without": [...]}`` by name)."""
    import gzip

    root = fixtures / "extraction-eval"
    gold = json.loads((root / "gold.json").read_text())
    pages = [Page("eval", name, entry["url"], {}, gzip.decompress((root / "html" / name).read_bytes()))
             for name, entry in gold.items()]
    return pages, gold


def load_labels(path: Path) -> dict[str, list[str]]:
    """The image labels: in-content image URLs in reading order, by page name."""
    return {entry["name"]: entry["images"] for entry in json.loads(path.read_text())["pages"]}
