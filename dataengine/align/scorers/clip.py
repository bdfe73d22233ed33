"""``clip``: open_clip image-text similarity between a candidate's image and its prompt.

``model`` and ``pretrained`` are what ``dataengine.filters.clip.load_clip`` takes (a model
config JSON or built-in name, and a local checkpoint file); nothing is downloaded. The score is
the cosine similarity in [-1, 1]; the candidate passes when it reaches ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataengine.align.scorers.base import Scorer, image_prompt_jobs
from dataengine.filters.clip import default_device, load_clip
from schemas import Document
from schemas.assessment import Assessment, Judgement

VERSION = "1"


@dataclass
class ClipJudgeConfig:
    """The ``clip`` judge's parameters: ``model``, ``pretrained`` (a local file), ``threshold``,
    ``batch_size`` and ``device``."""

    model: str
    pretrained: str | None = None
    threshold: float = 0.25
    batch_size: int = 64
    device: str | None = None


class ClipJudge(Scorer):
    """CLIP similarity of image and prompt (``ClipJudgeConfig``); see the module docstring."""

    name = "clip"
    version = VERSION
    Config = ClipJudgeConfig
    config: ClipJudgeConfig

    def setup(self) -> None:
        """Load the CLIP model once."""
        c = self.config
        self.device = c.device or default_device()
        self.model, self.preprocess, self.tokenizer = load_clip(c.model, c.pretrained, self.device)

    def judge_batch(self, candidates: list[tuple[Document, Assessment]]) -> list[Judgement | str]:
        """Cosine similarity per candidate, a model batch at a time."""
        import torch

        verdicts, jobs = image_prompt_jobs(candidates)
        for i in range(0, len(jobs), self.config.batch_size):
            chunk = jobs[i:i + self.config.batch_size]
            with torch.inference_mode():
                pixels = torch.stack([self.preprocess(p) for _, p, _ in chunk]).to(self.device)
                img = self.model.encode_image(pixels, normalize=True).float()
                txt = self.model.encode_text(self.tokenizer([t for _, _, t in chunk]).to(self.device),
                                             normalize=True).float()
            for (slot, _, _), sim in zip(chunk, (img * txt).sum(-1).tolist()):
                verdicts[slot] = Judgement(self.name, VERSION, sim, sim >= self.config.threshold)
        return verdicts
