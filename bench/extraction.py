"""Extraction: dataengine's ``extract_page`` against trafilatura, readability-lxml and resiliparse, same run.

Three measures, each on real pages and scored by ``dataengine.extract.evaluation``:

- main text on ``../shared/fixtures/extraction-eval`` (945 pages with snippets the main text
  must and must not contain): precision, recall and F1 of the snippets, as trafilatura's own
  evaluation scores them. Every extractor gets the page's bytes and URL and does its own
  charset detection; trafilatura runs with its defaults, readability-lxml's text is that of
  its ``summary()``, resiliparse's is ``extract_plain_text(main_content=True)``;
- in-content images on the labelled set (the saved pages of ``fixtures/html`` and the HTML
  records of the WARC fixtures; labels in ``tests/dataengine/extract/image_labels.json``):
  image F1 and order (longest common subsequence over the longer sequence). trafilatura runs
  with ``include_images=True`` (its ``<graphic>`` elements), readability-lxml gives the
  ``<img>`` of its summary, resiliparse extracts text only;
- speed: pages per second per core on the 945 pages, single process, CPU time of the best of
  ``--rounds`` passes, the extractors taking turns round by round; the ratio to resiliparse is
  the one the issue asks for.

Nothing is asserted; the tests hold regression floors. Needs the ``bench`` extra:
``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from dataengine.extract import RefusedCharsetError, TooComplexError, UndecodableError, extract_page
from dataengine.extract.evaluation import ImageScore, Page, SnippetScore, eval_pages, labelled_pages, load_labels

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
LABELS = REPO / "tests" / "dataengine" / "extract" / "image_labels.json"
REFERENCES = ("trafilatura", "readability", "resiliparse")


@dataclass
class Output:
    """What one extractor kept of one page: its main text and its image URLs in reading order."""

    text: str
    images: list[str] = field(default_factory=list)


def run_dataengine(page: Page) -> Output:
    """``extract_page``; a page it refuses (undecodable, refused charset, too complex) keeps nothing."""
    try:
        result = extract_page(page.body, page.url, page.headers)
    except (UndecodableError, RefusedCharsetError, TooComplexError):
        return Output("")
    return Output("\n".join(s.text or "" for s in result.segments if s.kind == "text"),
                  [i.url for i in result.images if i.url and i.status != "failed"])


def run_trafilatura(page: Page) -> Output:
    """trafilatura's ``extract()`` with its defaults (plain text)."""
    import trafilatura

    return Output(trafilatura.extract(page.body, url=page.url) or "")


def run_trafilatura_images(page: Page) -> Output:
    """trafilatura with images, as XML: its text and its ``<graphic>`` sources."""
    import trafilatura
    from lxml import etree

    xml = trafilatura.extract(page.body, url=page.url, include_images=True, output_format="xml")
    if not xml:
        return Output("")
    root = etree.fromstring(xml.encode("utf-8"))
    text = "\n".join(t for element in root.iter() if element.tag != "graphic"
                     for t in (element.text, element.tail) if t and t.strip())
    return Output(text, [urljoin(page.url, g.get("src")) for g in root.iter("graphic") if g.get("src")])


def run_readability(page: Page) -> Output:
    """readability-lxml's ``summary()``: the text of its elements and the ``src`` of its images."""
    import lxml.html
    from readability import Document

    try:
        summary = Document(page.body, url=page.url).summary(html_partial=True)
        tree = lxml.html.fromstring(summary)
    except Exception:  # noqa: BLE001 - readability raises bare Exceptions on pages it cannot read
        return Output("")
    text = " ".join(t.strip() for t in tree.itertext() if t.strip())
    return Output(text, [urljoin(page.url, img.get("src")) for img in tree.iter("img") if img.get("src")])


def run_resiliparse(page: Page) -> Output:
    """resiliparse's ``extract_plain_text`` of the main content (no images)."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import detect_encoding
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse_from_bytes(page.body, detect_encoding(page.body))
    return Output(extract_plain_text(tree, main_content=True))


TEXT_RUNS = {"dataengine": run_dataengine, "trafilatura": run_trafilatura, "readability": run_readability,
             "resiliparse": run_resiliparse}
IMAGE_RUNS = {"dataengine": run_dataengine, "trafilatura": run_trafilatura_images, "readability": run_readability}


def timed_pass(extract, pages: list[Page]) -> tuple[float, list[Output]]:
    """CPU seconds of one pass over ``pages``, with the outputs."""
    start = time.process_time()
    outputs = [extract(page) for page in pages]
    return time.process_time() - start, outputs


def text_scores(pages: list[Page], gold: dict[str, dict], outputs: list[Output]) -> SnippetScore:
    """Snippet precision/recall of one extractor's outputs on extraction-eval."""
    score = SnippetScore()
    for page, output in zip(pages, outputs):
        score.add(output.text, gold[page.name]["with"], gold[page.name]["without"])
    return score


def image_scores(pages: list[Page], labels: dict[str, list[str]], extract) -> ImageScore:
    """Image F1 and order of one extractor on the labelled pages."""
    score = ImageScore()
    for page in pages:
        score.add(page.name, extract(page).images, labels[page.name])
    return score


def print_table(text: dict[str, SnippetScore], images: dict[str, ImageScore], rate: dict[str, float]) -> None:
    """One line per extractor: main text, images, speed."""
    print(f"\n  {'':13s} {'extraction-eval main text':>27s}   {'labelled images':>31s}   {'pages/s/core':>22s}")
    print(f"  {'':13s} {'precision':>9s} {'recall':>7s} {'F1':>7s}   {'F1':>6s} {'prec.':>6s} {'recall':>6s} "
          f"{'order':>6s}   {'':>8s} {'vs resiliparse':>14s}")
    base = rate.get("resiliparse")
    for name in text:
        t = text[name]
        row = f"  {name:13s} {t.precision:9.3f} {t.recall:7.3f} {t.f1:7.3f}   "
        i = images.get(name)
        row += (f"{i.f1:6.3f} {i.precision:6.3f} {i.recall:6.3f} {i.order:6.3f}   " if i is not None
                else f"{'-':>6s} {'-':>6s} {'-':>6s} {'-':>6s}   ")
        row += f"{rate[name]:8.1f} " + (f"{rate[name] / base:13.2f}x" if base else "")
        print(row)


def print_image_misses(score: ImageScore, top: int) -> None:
    """The labelled pages where dataengine's images differ most from the labels."""
    worst = sorted(((got - hit) + (want - hit), name) for name, (got, want, hit) in score.per_page.items())
    print(f"\n  dataengine's largest image differences (extra + missed), top {top}:")
    for misses, name in reversed(worst[-top:]):
        if misses:
            got, want, hit = score.per_page[name]
            print(f"    {misses:3d}  {name[:90]}  (extracted {got}, labelled {want}, matched {hit})")


def main(argv: list[str] | None = None) -> int:
    """Run every extractor on both labelled sets and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per extractor (the best one counts)")
    parser.add_argument("--only", choices=("dataengine", *REFERENCES), action="append",
                        help="run only these extractors (repeatable); default all")
    parser.add_argument("--show-images", type=int, default=0, metavar="N",
                        help="list the N labelled pages where dataengine's images differ most from the labels")
    args = parser.parse_args(argv)
    names = args.only or ["dataengine", *REFERENCES]
    missing = [name for name in names if name != "dataengine" and importlib.util.find_spec(name) is None]
    if missing:
        print(f"bench/extraction.py needs {', '.join(missing)}: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    if not FIXTURES.is_dir():
        print(f"bench/extraction.py: fixtures not found at {FIXTURES}", file=sys.stderr)
        return 1
    pages, gold = eval_pages(FIXTURES)
    labelled = labelled_pages(FIXTURES)
    labels = load_labels(LABELS)
    labelled = [page for page in labelled if page.name in labels]
    print(f"extraction: {len(pages)} extraction-eval pages ({sum(len(p.body) for p in pages) / 1e6:.1f} MB), "
          f"{len(labelled)} labelled pages with {sum(len(labels[p.name]) for p in labelled)} in-content images")
    best = {name: float("inf") for name in names}
    outputs: dict[str, list[Output]] = {}
    for round_index in range(args.rounds):
        for name in names:
            cpu, outputs[name] = timed_pass(TEXT_RUNS[name], pages)
            best[name] = min(best[name], cpu)
            print(f"  round {round_index + 1}/{args.rounds} {name:12s} cpu {cpu:7.2f} s", flush=True)
    rate = {name: len(pages) / cpu for name, cpu in best.items()}
    text = {name: text_scores(pages, gold, outputs[name]) for name in names}
    images = {name: image_scores(labelled, labels, IMAGE_RUNS[name]) for name in names if name in IMAGE_RUNS}
    print_table(text, images, rate)
    if args.show_images and "dataengine" in images:
        print_image_misses(images["dataengine"], args.show_images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
