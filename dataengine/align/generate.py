"""``generate``: the round's model draws N candidates for each prompt.

A model stage: run it on an actor pool (``resources: {concurrency: N, num_gpus: 1}``); ``setup``
loads the checkpoint (a ``trainer train`` run folder or one of its step folders) once per actor.
Modes:

- ``text_to_image``: each input is a prompt (a one-text document, e.g. from the ``prompts``
  source); each candidate is a pair document, the prompt then the drawn image;
- ``caption``: each ok image of each input document is captioned N times; a candidate is the
  image then its caption, and its prompt is the image's alt text or caption (the reference);
- ``interleaved``: each prompt is continued freely, text and images as the model chooses.

Every candidate is a document of source kind ``generated`` with an ``assessment``
(``schemas.assessment``): prompt, round, checkpoint, candidate index, seed, sampling options,
and the scene when the prompt is a canonical scene caption. It keeps its token sequence
(``KEY.tokens.npy``: the VQ codes it was drawn as) beside the decoded PNG, so training reads the
codes and never re-encodes the image. The stage produces ``token_layout.json`` and
``tokenizer.json`` from the checkpoint's own vocabulary, so the output trains as it is.

Sampling is reproducible: one batch of ``batch_size`` rows (prompts x candidates, in input
order) draws from a generator seeded with ``seed`` (recorded in each candidate) derived from the
config's ``seed``, the round and the batch's first prompt. A candidate whose tokens break the
layout is a ``rejected`` row (``broken_layout``); it never stops the batch.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dataengine.filters.images import open_rgb
from dataengine.stages.base import Stage
from dataengine.tokenize.stage import resolve_device
from schemas import Document, ImageRecord, Segment, SourceRef, document_id
from schemas.assessment import MODES, Assessment
from schemas.corpus import LAYOUT_FILE, TOKENIZER_FILE
from schemas.scenes import Scene
from schemas.token_layout import ImageCodes


@dataclass
class GenerateConfig:
    """The ``generate`` parameters: the ``model`` (run or checkpoint folder), ``mode``, ``n`` candidates
    per prompt, the ``round`` recorded in each, the base ``seed``, the sampling options
    (``temperature``, ``top_k``, ``top_p``, guidance ``cfg_scale``), ``batch_size`` rows per decoding
    call, ``max_new_tokens`` of a caption or interleaved document, and the ``device``."""

    model: str
    mode: str = "text_to_image"
    n: int = 8
    round: int = 0
    seed: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    cfg_scale: float = 1.0
    batch_size: int = 64
    max_new_tokens: int = 96
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.n < 1 or self.batch_size < 1:
            raise ValueError("n and batch_size must be at least 1")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


class CandidateGenerator(Stage):
    """Draw ``n`` candidates per prompt with the round's model (``GenerateConfig``); see the module docstring."""

    name = "generate"
    version = "1"
    writes = frozenset({"segments", "images", "images.data", "tokens"})
    produces = (LAYOUT_FILE, TOKENIZER_FILE)
    Config = GenerateConfig
    config: GenerateConfig

    def setup(self) -> None:
        """Load the checkpoint on the device."""
        from trainer.generate.generator import Generator

        model, vocab, self.checkpoint = load_round_model(self.name, self.config.model, self.config.device)
        if vocab.images is None and self.config.mode != "interleaved":
            raise ValueError(f"generate: {self.config.model} has no VQ tokenizer, so it cannot {self.config.mode}")
        self.generator, self.vocab, self.layout = Generator(model, vocab, model_device(model)), vocab, vocab.layout

    def corpus_files(self) -> dict[str, str]:
        """The checkpoint's ``token_layout.json``, and its ``tokenizer.json`` with the VQ's absolute path."""
        from trainer.train.checkpoint import resolve_checkpoint

        run_dir, _ = resolve_checkpoint(self.config.model)
        spec = json.loads((run_dir / TOKENIZER_FILE).read_text())
        vq = str((run_dir / spec["vq"]).resolve()) if spec.get("vq") else None
        return {LAYOUT_FILE: (run_dir / LAYOUT_FILE).read_text(),
                TOKENIZER_FILE: json.dumps({"text": spec["text"], "vq": vq, "text_sha256": None}, sort_keys=True)}

    def derived_from(self, doc: Document) -> str | None:
        """A candidate comes from the input its ``prompt_id`` names."""
        return (doc.assessment or {}).get("prompt_id")

    def _sampling(self) -> Any:
        from trainer.generate.sampling import SamplingOptions

        c = self.config
        return SamplingOptions(c.temperature, c.top_k, c.top_p)

    def _batch_seed(self, first_id: str) -> int:
        return zlib.crc32(f"{self.config.seed}:{self.config.round}:{first_id}".encode())

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Candidates for every prompt of ``docs``; an empty prompt or an undecodable image is rejected."""
        jobs = []  # (input doc, prompt text, image array or None, candidate index)
        for doc in docs:
            if self.config.mode == "caption":
                images = [im for im in doc.images if im.status == "ok" and im.data]
                if not images:
                    self.reject(doc, "no_image_to_caption")
                for im in images:
                    try:
                        pixels = np.asarray(open_rgb(im.data))
                    except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's problem
                        self.reject(doc, "undecodable_image", level="image", image_index=im.index, detail=str(exc))
                        continue
                    jobs += [(doc, im.caption or im.alt or "", pixels, k) for k in range(self.config.n)]
            elif not doc.text.strip():
                self.reject(doc, "empty_prompt")
            else:
                jobs += [(doc, doc.text.strip(), None, k) for k in range(self.config.n)]
        out = []
        for i in range(0, len(jobs), self.config.batch_size):
            out += self._generate(jobs[i:i + self.config.batch_size])
        return out

    def _generate(self, jobs: list[tuple[Document, str, np.ndarray | None, int]]) -> list[Document]:
        seed, mode, opts = self._batch_seed(jobs[0][0].id), self.config.mode, self._sampling()
        gen, lay = self.generator, self.layout
        prompts = [p for _, p, _, _ in jobs]
        if mode == "text_to_image":
            grids = gen.image_codes(prompts, self.config.cfg_scale, opts, seed)
            results = [(p, [self.vocab.text.encode(p), ImageCodes(g)]) for p, g in zip(prompts, grids)]
        elif mode == "caption":
            texts = gen.captions([px for _, _, px, _ in jobs], self.config.max_new_tokens, opts, seed)
            codes = self.vocab.images.encode([px for _, _, px, _ in jobs])
            results = [(p, [ImageCodes(c), self.vocab.text.encode(t.strip())])
                       for p, c, t in zip(prompts, codes, texts)]
        else:
            docs = gen.interleaved(prompts, self.config.max_new_tokens, opts, seed)
            results = [(p, lay.decode(np.asarray([lay.bos, *self.vocab.text.encode(p), *d.tokens], dtype=np.int64)))
                       if lay.eos in d.tokens else (p, None) for p, d in zip(prompts, docs)]
        out = []
        for (source, prompt, _, k), (_, parts) in zip(jobs, results):
            cand = self._candidate(source, prompt, k, seed)
            try:
                if parts is None:
                    raise ValueError("the document did not end within max_new_tokens")
                self._fill(cand, parts)
            except ValueError as exc:
                self.reject(cand, "broken_layout", detail=str(exc)[:500])
                continue
            out.append(cand)
        return out

    def _candidate(self, source: Document, prompt: str, k: int, seed: int) -> Document:
        c = self.config
        url = f"generated://{source.id}/r{c.round}/{c.mode}/{len(prompt)}-{zlib.crc32(prompt.encode())}/c{k}"
        ckpt = str(Path(self.checkpoint).resolve())
        scene = Scene.from_caption(prompt, self.vocab.images.resolution if self.vocab.images else 32)
        assessment = Assessment(prompt, source.id, c.mode, c.round, ckpt, k, seed,
                                {"temperature": c.temperature, "top_k": c.top_k, "top_p": c.top_p,
                                 "cfg_scale": c.cfg_scale, "row": k},
                                scene.to_json() if scene else None)
        return Document(id=document_id(url, ckpt), url=url, source=SourceRef("generated", ckpt),
                        assessment=assessment.to_json())

    def _fill(self, cand: Document, parts: list[Any]) -> None:
        """Segments, decoded images and tokens of a candidate from its parts (text ids, ``ImageCodes``)."""
        for part in parts:
            if isinstance(part, ImageCodes):
                pixels = self.vocab.images.decode(part.codes)[0]
                index = len(cand.images)
                data = _png(pixels)
                cand.images.append(ImageRecord(index=index, url=f"{cand.url}/{index}.png", width=pixels.shape[1],
                                               height=pixels.shape[0], format="png", status="ok", data=data))
                cand.segments.append(Segment.of_image(index))
            else:
                text = self.vocab.text.decode([int(t) for t in part])
                if text.strip():
                    cand.segments.append(Segment.of_text(text.strip()))
        if not any(s.kind == "image" for s in cand.segments) and self.config.mode != "interleaved":
            raise ValueError("no image in the candidate")
        cand.tokens = self.layout.encode([p for p in parts if isinstance(p, ImageCodes)
                                          or len(p)]).astype(np.int32)


def load_round_model(stage: str, path: str, device: str) -> tuple[Any, Any, Path]:
    """``(model, vocabulary, checkpoint folder)`` of a run or checkpoint folder; a ``ValueError`` naming
    ``stage`` and ``path`` in one line when it cannot be loaded."""
    from trainer.train.checkpoint import load_trained, resolve_checkpoint

    try:
        _, checkpoint = resolve_checkpoint(path)
        model, vocab, _ = load_trained(path, resolve_device(device))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{stage}: cannot load {path!r}: {exc}".splitlines()[0]) from None
    return model, vocab, checkpoint


def model_device(model: Any) -> Any:
    """The device a model's parameters are on."""
    return next(model.parameters()).device


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
