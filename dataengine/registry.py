"""Names a pipeline YAML may use, mapped to the classes that implement them.

Entries are import paths so that listing them imports nothing heavy (model stages pull in
torch and friends only when a pipeline actually uses them).
"""

from __future__ import annotations

import importlib

SOURCES: dict[str, str] = {
    "warc": "dataengine.sources.warc:WarcSource",
    "sitemap": "dataengine.sources.sitemap:SitemapSource",
    "crawl": "dataengine.crawl.source:CrawlSource",
    "urls": "dataengine.sources.urls:UrlListSource",
    "img2dataset": "dataengine.sources.img2dataset:Img2DatasetSource",
    "hf": "dataengine.sources.hf:HfDatasetSource",
    "obelics": "dataengine.sources.obelics:ObelicsSource",
    "corpus": "dataengine.sources.corpus:CorpusSource",
}

STAGES: dict[str, str] = {
    "extract_html": "dataengine.extract.stage:HtmlExtractor",
    "fetch_images": "dataengine.images.fetch:ImageFetcher",
    "optout": "dataengine.optout.stage:OptOutFilter",
    "text_quality": "dataengine.filters.text_quality:TextQualityFilter",
    "language_id": "dataengine.filters.language:LanguageFilter",
    "url_blocklist": "dataengine.filters.blocklist:UrlBlocklist",
    "image_rules": "dataengine.filters.image_rules:ImageRules",
    "repeated_images": "dataengine.filters.image_rules:RepeatedImages",
    "clip_score": "dataengine.filters.clip:ClipScorer",
    "nsfw": "dataengine.filters.nsfw:NsfwFilter",
    "caption": "dataengine.caption.stage:Captioner",
    "tokenize": "dataengine.tokenize.stage:DocumentTokenizer",
}


def resolve(table: dict[str, str], name: str, what: str) -> type:
    """Import and return the class registered under ``name`` in ``table``."""
    if name not in table:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(sorted(table))}")
    module, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module), attr)
