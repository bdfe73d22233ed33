"""Noise removal on the sample web, measured against its ground truth.

Generates the sample web, serves it on loopback, runs ``pipelines/sampleweb_filtered.yaml``
(sitemap source, extraction, language ID, text quality, image rules, image fetch, repeated
images, NSFW) on a local Ray, then the dedup phase with ``pipelines/dedup/sampleweb.yaml``,
and scores what is left against ``ground_truth.jsonl``.

Units are the sample web's pages and image occurrences (an image on 5 pages is 5 units).
A page is clean when its label is ``content``; an image occurrence is clean exactly when
its page's label and its own label are ``content`` (see ``dataengine.sampleweb``); all else
is noise. A page is kept when the corpus holds a document of its URL; an image occurrence
is kept when that document holds an ``ok`` image of its URL (or its srcset's other size).

Prints the outcome per label and, as its last line, ``noise_recall=R clean_kept=K``:
the share of noise units removed and of clean units kept (goal: both >= 0.95).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from dataengine.dedup import load_config, run_dedup
from dataengine.runner.config import load_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.runner.ray_session import init_ray
from dataengine.sampleweb.generate import GROUND_TRUTH, SampleWebConfig, generate_site
from dataengine.sampleweb.server import SampleWebServer
from dataengine.shards import iter_corpus

REPO = Path(__file__).resolve().parents[1]


def corpus_contents(corpus: str) -> dict[str, Counter]:
    """Page path -> multiset of the URL paths of its ``ok`` images, for every document of the corpus."""
    pages: dict[str, Counter] = {}
    for doc in iter_corpus(corpus):
        images = Counter(urlsplit(im.url).path for im in doc.images if im.status == "ok" and im.url)
        pages.setdefault(urlsplit(doc.url).path, Counter()).update(images)
    return pages


def score(site: Path, corpus: str) -> tuple[dict[tuple[str, str, str], Counter], Counter]:
    """Outcomes by (unit kind, page label, own label) and the unit totals (kind, clean/noise, kept/removed)."""
    kept_pages = corpus_contents(corpus)
    outcomes: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    page_label: dict[str, str] = {}
    remaining = {path: Counter(images) for path, images in kept_pages.items()}
    lines = [json.loads(line) for line in (site / GROUND_TRUTH).read_text().splitlines()]
    for item in lines:
        if item["kind"] == "page":
            page_label[item["path"]] = item["label"]
            kept = item["path"] in kept_pages
            clean = item["label"] == "content"
            unit = ("page", item["label"], item["label"])
        else:
            page = item["page"]
            have = remaining.get(page, Counter())
            # the extractor may have picked the srcset's other size of the same picture
            found = next((p for p in [item["path"], *(item.get("srcset") or [])] if have[p] > 0), None)
            kept = found is not None
            if kept:
                have[found] -= 1
            clean = page_label[page] == "content" and item["label"] == "content"
            unit = ("image", page_label[page], item["label"])
        outcomes[unit]["kept" if kept else "removed"] += 1
        totals[(unit[0], "clean" if clean else "noise", "kept" if kept else "removed")] += 1
    return outcomes, totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=60, help="pages of the sample web (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample web (default 0)")
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "sampleweb_filtered.yaml"))
    parser.add_argument("--dedup", default=str(REPO / "pipelines" / "dedup" / "sampleweb.yaml"))
    parser.add_argument("--out", default=None, help="keep site/ and corpus/ here (default: a temporary folder)")
    parser.add_argument("--report", default=None, help="also write the funnel report here (HTML)")
    args = parser.parse_args()
    init_ray()  # before the stages are built: fetch_images imports img2dataset, which imports ray

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        site, corpus = out / "site", str(out / "corpus")
        generate_site(site, SampleWebConfig(pages=args.pages, seed=args.seed))
        with SampleWebServer(site) as server:
            start = time.perf_counter()
            config = load_pipeline(args.pipeline, [f"source.url={server.url}sitemap.xml"])
            run_pipeline(config, corpus)
            pipeline_s = time.perf_counter() - start
            before = score(site, corpus)[1]
            start = time.perf_counter()
            result = run_dedup(corpus, load_config(args.dedup), executor="ray")
            dedup_s = time.perf_counter() - start
            outcomes, totals = score(site, corpus)
            if args.report:
                from dataengine.report import write_report

                # while the sample web is up, images the filters removed can be fetched back for the report
                write_report(corpus, args.report, fetch_rejected=True)

    print(f"sample web: {args.pages} pages, seed {args.seed}; pipeline {pipeline_s:.1f} s, dedup {dedup_s:.1f} s "
          f"({result.documents_in} -> {result.documents_out} documents)")
    print(f"{'unit':<6} {'page label':<15} {'own label':<15} {'kept':>5} {'removed':>8}")
    for (kind, page, own), c in sorted(outcomes.items()):
        print(f"{kind:<6} {page:<15} {own:<15} {c['kept']:>5} {c['removed']:>8}")

    def rates(t: Counter, kind: str | None = None) -> tuple[float, float]:
        pick = lambda cls, fate: sum(n for (k, c, f), n in t.items() if c == cls and f == fate  # noqa: E731
                                     and (kind is None or k == kind))
        noise = pick("noise", "removed") + pick("noise", "kept")
        clean = pick("clean", "removed") + pick("clean", "kept")
        return pick("noise", "removed") / max(noise, 1), pick("clean", "kept") / max(clean, 1)

    for kind in ("page", "image"):
        r, k = rates(totals, kind)
        print(f"{kind}s: noise removed {r:.3f}, clean kept {k:.3f}")
    r0, k0 = rates(before)
    print(f"before dedup: noise removed {r0:.3f}, clean kept {k0:.3f}")
    removed = sum(n for (_, _, f), n in totals.items() if f == "removed")
    precision = sum(n for (_, c, f), n in totals.items() if c == "noise" and f == "removed") / max(removed, 1)
    print(f"precision of removal: {precision:.3f} ({removed} units removed)")
    recall, kept = rates(totals)
    print(f"noise_recall={recall:.3f} clean_kept={kept:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
