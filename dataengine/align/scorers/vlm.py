"""``vlm``: a Hugging Face image-text matching model judges whether the image shows the prompt.

``model`` is a local folder or a hub name exactly as ``from_pretrained`` takes it (nothing is
fetched at run time when the files are local). The model class is the one the folder's config
names (``architectures``, e.g. ``BlipForImageTextRetrieval``); its image-text matching head
gives p(match), the score; the candidate passes when it reaches ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataengine.align.scorers.base import Scorer, image_prompt_jobs
from dataengine.filters.clip import default_device
from schemas import Document
from schemas.assessment import Assessment, Judgement

VERSION = "1"


@dataclass
class VlmJudgeConfig:
    """The ``vlm`` judge's parameters: ``model`` (path or hub name), ``threshold``, ``batch_size``, ``device``."""

    model: str
    threshold: float = 0.5
    batch_size: int = 32
    device: str | None = None


class VlmJudge(Scorer):
    """p(image matches prompt) from an HF matching model (``VlmJudgeConfig``); see the module docstring."""

    name = "vlm"
    version = VERSION
    Config = VlmJudgeConfig
    config: VlmJudgeConfig

    def setup(self) -> None:
        """Load the processor and the model class its config names."""
        import transformers

        c = self.config
        self.device = c.device or default_device()
        try:
            config = transformers.AutoConfig.from_pretrained(c.model)
            arch = (config.architectures or [""])[0]
            cls = getattr(transformers, arch, None)
            if cls is None or not hasattr(cls, "from_pretrained"):
                raise ValueError(f"its config names no transformers model class ({arch!r})")
            self.model = cls.from_pretrained(c.model).to(self.device).eval()
            self.processor = transformers.AutoProcessor.from_pretrained(c.model)
        except (OSError, ValueError) as exc:
            raise ValueError(f"vlm: cannot load {c.model!r}: {exc}".splitlines()[0]) from None

    def judge_batch(self, candidates: list[tuple[Document, Assessment]]) -> list[Judgement | str]:
        """p(match) per candidate from the model's matching head."""
        import torch

        verdicts, jobs = image_prompt_jobs(candidates)
        for i in range(0, len(jobs), self.config.batch_size):
            chunk = jobs[i:i + self.config.batch_size]
            inputs = self.processor(images=[p for _, p, _ in chunk], text=[t for _, _, t in chunk],
                                    return_tensors="pt", padding=True).to(self.device)
            with torch.inference_mode():
                out = self.model(**inputs)
            logits = getattr(out, "itm_score", None)
            if logits is None:
                raise ValueError(f"vlm: {self.config.model} has no image-text matching head (itm_score)")
            for (slot, _, _), p in zip(chunk, logits.float().softmax(-1)[:, 1].tolist()):
                verdicts[slot] = Judgement(self.name, VERSION, p, p >= self.config.threshold)
        return verdicts
