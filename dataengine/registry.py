"""Names a pipeline YAML may use, mapped to the classes that implement them, and how those take parameters.

Entries are import paths so that listing them imports nothing heavy (model stages pull in
torch and friends only when a pipeline actually uses them).

Every registered class (a stage or a source) is ``Configured``: its parameters are the fields
of its ``Config`` dataclass, written once with their defaults next to the class. It is built
with those fields as arguments, from Python (``ImageFetcher(timeout=3)``) as from YAML
(``params: {timeout: 3}``), and the config loader (``schemas.config``) checks and converts them
into ``self.config``: an unknown name or a value of the wrong type is a ``ConfigError`` naming it.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any, ClassVar

from schemas.config import from_mapping, unknown

SOURCES: dict[str, str] = {
    "warc": "dataengine.sources.warc:WarcSource",
    "sitemap": "dataengine.sources.sitemap:SitemapSource",
    "crawl": "dataengine.crawl.source:CrawlSource",
    "urls": "dataengine.sources.urls:UrlListSource",
    "img2dataset": "dataengine.sources.img2dataset:Img2DatasetSource",
    "hf": "dataengine.sources.hf:HfDatasetSource",
    "obelics": "dataengine.sources.obelics:ObelicsSource",
    "corpus": "dataengine.sources.corpus:CorpusSource",
    "prompts": "dataengine.align.prompts:PromptSource",
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
    "generate": "dataengine.align.generate:CandidateGenerator",
    "ground_truth": "dataengine.align.scorers.ground_truth:GroundTruthJudge",
    "self_assess": "dataengine.align.scorers.self_assess:SelfAssessJudge",
    "clip": "dataengine.align.scorers.clip:ClipJudge",
    "vlm": "dataengine.align.scorers.vlm:VlmJudge",
    "assessment_docs": "dataengine.align.assessment_docs:AssessmentDocuments",
    "select": "dataengine.align.select:CandidateSelector",
}


def resolve(table: dict[str, str], name: str, what: str) -> type:
    """Import and return the class registered under ``name`` in ``table``."""
    if name not in table:
        raise KeyError(unknown(what, name, sorted(table)))
    module, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclasses.dataclass
class NoParams:
    """The parameters of a class that takes none."""


class Configured:
    """A class a pipeline YAML can name: ``Config`` (a dataclass) lists its parameters; see the module docstring."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = NoParams
    config: Any

    def __init__(self, *args: Any, **params: Any) -> None:
        fields = [f.name for f in dataclasses.fields(self.Config) if f.init]
        if len(args) > len(fields):
            raise TypeError(f"{self.describe()}: takes at most {len(fields)} positional parameters, got {len(args)}")
        for field_name, value in zip(fields, args):
            if field_name in params:
                raise TypeError(f"{self.describe()}: parameter {field_name!r} given twice")
            params[field_name] = value
        self.config = self.parse_params(params, self.describe())

    @classmethod
    def describe(cls) -> str:
        """How messages name the class: its registered ``name``."""
        return cls.name or cls.__name__

    @classmethod
    def parse_params(cls, params: Mapping[str, Any], where: str) -> Any:
        """``params`` checked against ``Config`` and converted into one; messages start with ``where``."""
        return from_mapping(cls.Config, params, where, noun="parameter")
