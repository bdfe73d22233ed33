"""``text_quality``: paragraph and document rules with the OBELICS thresholds as defaults.

First each text segment (a paragraph) is measured and dropped when it breaks a paragraph
rule (a ``text``-level rejection naming the rule, the value and the threshold); then the
text that remains is measured as a whole, the measures go to ``doc.scores`` and the
document is dropped when it breaks a document rule. Image segments are never touched.

Reasons are ``<metric>_low`` or ``<metric>_high`` (e.g. ``stopword_ratio_low``); the
metric names are also the keys of ``doc.scores``. A threshold set to ``None`` turns its
rule off. Rules that need a word list (stop words, common words, flagged words: English
only unless ``flagged_word_files`` gives more) are skipped for a language that has none,
so run ``language_id`` first; ``default_language`` applies to documents that have no
language yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataengine.filters import text_metrics as tm
from dataengine.stages.base import Stage
from schemas import Document

# (metric, "min" or "max", threshold field without its level prefix), cheapest first: the
# first broken rule is the one reported.
RULES: tuple[tuple[str, str, str], ...] = (
    ("word_count", "min", "min_words"),
    ("word_count", "max", "max_words"),
    ("special_char_ratio", "max", "max_special_char_ratio"),
    ("stopword_ratio", "min", "min_stopword_ratio"),
    ("flagged_word_ratio", "max", "max_flagged_word_ratio"),
    ("punctuation_ratio", "min", "min_punctuation_ratio"),
    ("common_word_ratio", "min", "min_common_word_ratio"),
    ("char_repetition", "max", "max_char_repetition"),
    ("word_repetition", "max", "max_word_repetition"),
)
LEVELS = ("paragraph", "document")


@dataclass
class TextQualityConfig:
    """The ``text_quality`` parameters: ``paragraph_*`` and ``document_*`` thresholds (defaults from
    OBELICS' published web-document filter configuration; ``None`` turns a rule off), and how
    the metrics are measured."""

    paragraph_min_words: int | None = 4
    paragraph_max_words: int | None = 1000
    paragraph_max_char_repetition: float | None = 0.1
    paragraph_max_word_repetition: float | None = 0.1
    paragraph_max_special_char_ratio: float | None = 0.3
    paragraph_min_stopword_ratio: float | None = 0.3
    paragraph_max_flagged_word_ratio: float | None = 0.01
    paragraph_min_punctuation_ratio: float | None = 0.001
    paragraph_min_common_word_ratio: float | None = 0.8
    document_min_words: int | None = 10
    document_max_words: int | None = 2000
    document_max_char_repetition: float | None = 0.1
    document_max_word_repetition: float | None = 0.2
    document_max_special_char_ratio: float | None = 0.275
    document_min_stopword_ratio: float | None = 0.35
    document_max_flagged_word_ratio: float | None = 0.01
    document_min_punctuation_ratio: float | None = 0.03
    document_min_common_word_ratio: float | None = 0.9
    char_ngram: int = 10            # n of the character repetition ratio
    word_ngram: int = 5             # n of the word repetition ratio
    punctuation_min_tokens: int = 12  # below this many tokens the punctuation rule passes
    common_words_top_n: int = 200_000  # wordfreq's most frequent words count as common
    default_language: str = "en"
    # language -> word-list file (one word a line); English defaults to better-profanity's list
    flagged_word_files: dict[str, str] | None = None

    def __post_init__(self) -> None:
        for _metric, _bound, field in RULES:
            for level in LEVELS:
                value = getattr(self, f"{level}_{field}")
                if value is not None and (not isinstance(value, (int, float)) or value < 0):
                    raise ValueError(f"{level}_{field} must be a number >= 0 or null, got {value!r}")


class TextQualityFilter(Stage):
    """Drop low-quality paragraphs, then documents; keep every measure (parameters: ``TextQualityConfig``)."""

    name = "text_quality"
    reads = frozenset({"segments", "language"})
    Config = TextQualityConfig
    config: TextQualityConfig

    def setup(self) -> None:
        """Read the flagged-word lists."""
        self._flagged = {"en": tm.default_flagged_words()}
        for language, path in (self.config.flagged_word_files or {}).items():
            self._flagged[language] = tm.read_word_list(path)

    def measure(self, text: str, language: str) -> dict[str, float]:
        """Every metric of ``text``; those needing a word list ``language`` lacks are left out."""
        tokens = tm.words(text)
        out = {
            "word_count": float(len(tokens)),
            "special_char_ratio": tm.special_char_ratio(text),
            "punctuation_ratio": tm.punctuation_ratio(text, self.config.punctuation_min_tokens),
            "char_repetition": tm.char_repetition_ratio(text, self.config.char_ngram),
            "word_repetition": tm.word_repetition_ratio(tokens, self.config.word_ngram),
        }
        flagged = self._flagged.get(language)
        if flagged is not None:
            out["flagged_word_ratio"] = tm.word_ratio(tokens, flagged)
        stop = tm.stop_words(language)
        if stop is not None:
            out["stopword_ratio"] = tm.word_ratio(tokens, stop)
        common = tm.common_words(language, self.config.common_words_top_n)
        if common is not None:
            out["common_word_ratio"] = tm.word_ratio(tokens, common)
        return out

    def first_failure(self, level: str, metrics: dict[str, float]) -> tuple[str, float, float] | None:
        """The first rule of ``level`` that ``metrics`` break, as (reason, value, threshold)."""
        for metric, bound, field in RULES:
            threshold = getattr(self.config, f"{level}_{field}")
            value = metrics.get(metric)
            if threshold is None or value is None:
                continue
            if bound == "min" and value < threshold:
                return f"{metric}_low", value, threshold
            if bound == "max" and value > threshold:
                return f"{metric}_high", value, threshold
        return None

    def process(self, doc: Document) -> Document | None:
        """Drop failing paragraphs, score the rest, drop the document if it fails."""
        language = doc.language or self.config.default_language
        kept = []
        for position, seg in enumerate(doc.segments):
            if seg.kind == "text":
                failure = self.first_failure("paragraph", self.measure(seg.text or "", language))
                if failure:
                    reason, value, threshold = failure
                    self.reject(doc, reason, level="text", value=value, threshold=threshold,
                                detail=f"segment {position}: {(seg.text or '')[:300]}")
                    continue
            kept.append(seg)
        doc.segments = kept
        metrics = self.measure(doc.text, language)
        doc.scores.update(metrics)
        failure = self.first_failure("document", metrics)
        if failure:
            reason, value, threshold = failure
            self.reject(doc, reason, value=value, threshold=threshold)
            return None
        return doc
