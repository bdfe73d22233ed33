"""``prompts``: where the self-generation loop's prompts come from, as one-text-segment documents.

``origin`` picks the kind:

- ``sampleweb``: scenes of the sample web drawn from its *training* compositions only.
  ``path`` is a scene world (its ``split.json`` names what is held out) or omitted (the
  default split); no prompt ever names a held-out composition or pairing, so a round's gain
  can be measured on them. Each prompt is a scene's canonical caption.
- ``corpus``: the alt texts and captions of the images of an existing corpus (``path``).
- ``file``: a JSONL file (objects with a ``column`` key, default ``prompt``) or a Parquet file
  (that column), local or any fsspec URL.
- ``hf``: a local Hugging Face dataset (``save_to_disk`` output or a folder ``load_dataset``
  reads), its ``split`` and ``column``.

``count`` caps the prompts (for ``sampleweb``, how many to draw; 0 elsewhere means all);
partitions are chunks of ``per_partition`` prompts, named from the origin, so a rerun of a
round skips what it committed. An empty or unusable prompt is a ``rejected`` row.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dataengine.errors import ConfigError
from dataengine.sources.base import Partition, Source, partition_id
from dataengine.sources.rows import RowError, count_rows, file_format, iter_rows
from schemas import Document, Rejection, Segment, SourceRef, document_id

ORIGINS = ("sampleweb", "corpus", "file", "hf")
STAGE = "source:prompts"


@dataclass
class PromptsConfig:
    """The ``prompts`` source's parameters (see the module docstring)."""

    origin: str = "sampleweb"
    path: str | None = None
    count: int = 256
    seed: int = 0
    column: str = "prompt"
    split: str = "train"
    per_partition: int = 64
    two_groups: float = 0.25     # sampleweb: share of two-group scenes

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(ORIGINS)}, got {self.origin!r}")
        if self.origin != "sampleweb" and not self.path:
            raise ValueError(f"origin {self.origin} needs a path")
        if self.count < 0 or self.per_partition < 1:
            raise ValueError("count must be >= 0 and per_partition >= 1")


class PromptSource(Source):
    """Prompts from ``origin`` as text documents, ``per_partition`` at a time (``PromptsConfig``)."""

    name = "prompts"
    Config = PromptsConfig
    config: PromptsConfig

    def partitions(self) -> list[Partition]:
        """Chunks of the prompt list; the list itself is read here only to count it."""
        cfg = self.config
        key = f"{cfg.origin}:{cfg.path or 'default'}:{cfg.seed}:{cfg.column}:{cfg.split}"
        n = cfg.count if cfg.origin == "sampleweb" else len(self._prompts())
        base = partition_id("prompts", key)
        return [Partition(f"{base}-{k:05d}", key, {"start": s, "stop": min(s + cfg.per_partition, n)})
                for k, s in enumerate(range(0, n, cfg.per_partition))]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """The partition's prompts."""
        start, stop = partition.meta["start"], partition.meta["stop"]
        if self.config.origin == "sampleweb":
            items: list[tuple[str, str | RowError]] = self._scene_prompts(start, stop)
        else:
            items = self._prompts()[start:stop]
        for where, text in items:
            url = f"prompt://{self.config.origin}/{where}"
            doc_id = document_id(url, partition.uri)
            if isinstance(text, RowError) or not str(text).strip():
                reason, detail = (text.reason, text.detail) if isinstance(text, RowError) else ("empty_prompt", "")
                yield Rejection(doc_id, url, "document", STAGE, reason, detail=f"{where}: {detail}".strip(": "))
                continue
            yield Document(id=doc_id, url=url, source=SourceRef("generated", partition.uri),
                           segments=[Segment.of_text(str(text).strip())])

    def _scene_prompts(self, start: int, stop: int) -> list[tuple[str, str | RowError]]:
        from dataengine.sampleweb.world import training_scene
        from schemas.scene_split import CompositionSplit, find_split, load_split

        found = find_split(self.config.path) if self.config.path else None
        split = load_split(found) if found else CompositionSplit.draw()
        out = []
        for i in range(start, stop):
            rng = random.Random(f"{self.config.seed}:{i}")  # each prompt on its own: partitions are independent
            out.append((f"{self.config.seed}/{i}", training_scene(rng, split, 32, self.config.two_groups).caption()))
        return out

    def _prompts(self) -> list[tuple[str, str | RowError]]:
        """Every prompt of a list origin, with where it came from; capped at ``count``."""
        cfg = self.config
        prompts = {"corpus": self._corpus_prompts, "file": self._file_prompts, "hf": self._hf_prompts}[cfg.origin]()
        return prompts[: cfg.count] if cfg.count else prompts

    def _corpus_prompts(self) -> list[tuple[str, str | RowError]]:
        from dataengine.sources.corpus import CorpusSource

        source = CorpusSource(path=self.config.path)
        out = []
        for part in source.partitions():
            for doc in source.read(part):
                if isinstance(doc, Rejection):
                    continue
                for im in doc.images:
                    text = im.caption or im.alt
                    if im.status == "ok" and text and text.strip():
                        out.append((f"{doc.id}/{im.index}", text))
        return out

    def _file_prompts(self) -> list[tuple[str, str | RowError]]:
        path, column = str(self.config.path), self.config.column
        fmt = file_format(path, None)
        if fmt not in ("jsonl", "parquet", "txt"):
            raise ConfigError(f"prompts source: {path} must be .jsonl, .parquet or .txt, not {fmt}")
        out: list[tuple[str, str | RowError]] = []
        for i, row in iter_rows(path, fmt, 0, count_rows(path, fmt)):
            if isinstance(row, RowError):
                out.append((f"row{i}", row))
            elif fmt == "txt":
                out.append((f"row{i}", _cell(row)))
            elif column not in row:
                out.append((f"row{i}", RowError("no_prompt_column", f"no {column!r} in {sorted(row)}")))
            else:
                out.append((f"row{i}", _cell(row[column])))
        return out

    def _hf_prompts(self) -> list[tuple[str, str | RowError]]:
        import datasets

        path, cfg = str(self.config.path), self.config
        try:
            ds = datasets.load_from_disk(path)
        except (FileNotFoundError, ValueError):
            try:
                ds = datasets.load_dataset(path)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"prompts source: cannot load {path}: {exc}") from None
        if isinstance(ds, datasets.DatasetDict):
            if cfg.split not in ds:
                raise ConfigError(f"prompts source: {path} has no split {cfg.split!r}; splits: {', '.join(ds)}")
            ds = ds[cfg.split]
        if cfg.column not in ds.column_names:
            raise ConfigError(f"prompts source: {path} has no column {cfg.column!r}; "
                              f"columns: {', '.join(ds.column_names)}")
        return [(f"row{i}", _cell(v)) for i, v in enumerate(ds[cfg.column])]


def _cell(value: Any) -> str | RowError:
    if isinstance(value, dict) and len(value) == 1:  # a txt row is {"url": line}; take its one value
        value = next(iter(value.values()))
    if not isinstance(value, str):
        return RowError("prompt_not_text", f"got {type(value).__name__}")
    return value
