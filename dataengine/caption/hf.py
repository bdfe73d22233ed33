"""Hugging Face image-to-text and vision-language models as captioners, by hub name or local path.

``AutoProcessor`` and ``AutoModelForImageTextToText`` (the transformers 5 class behind BLIP,
BLIP-2, GIT, vision-encoder-decoder models, LLaVA, Qwen-VL, SmolVLM, ...) are loaded exactly as
a user would: ``Salesforce/blip-image-captioning-base`` from the hub (or its cache), or a
directory written by ``save_pretrained``; a path that exists is never looked up on the hub.

Captioning models (BLIP, GIT) caption an image as it is, or continue a text ``prompt`` ("a
picture of"). Chat models need an instruction: when the processor has a chat template, the
prompt (default ``DEFAULT_INSTRUCTION``) is wrapped in a user turn with the image. Decoding is
greedy (or beam search with ``num_beams``). A chat model's answer is what comes after its
prompt; a captioning model's text prompt stays, as the start of its sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_INSTRUCTION = "Describe this image in one sentence."


class HfCaptioner:
    """A transformers image-to-text model with its processor, captioning batches of PIL images."""

    def __init__(self, model: str, device: str = "cpu", prompt: str | None = None, max_new_tokens: int = 40,
                 num_beams: int = 1):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        local = Path(model).exists()
        try:
            self.processor = AutoProcessor.from_pretrained(model, local_files_only=local)
            dtype = "auto" if device.startswith("cuda") else torch.float32
            self.model = AutoModelForImageTextToText.from_pretrained(model, local_files_only=local, dtype=dtype)
        except (OSError, ValueError, KeyError) as exc:
            where = "local model directory" if local else "hub name or local path"
            raise ValueError(f"caption: cannot load {model!r} as a {where} of an image-to-text model: "
                             f"{exc}".splitlines()[0]) from None
        self.model.to(device).eval()
        self.device = device
        self.name = model
        self.max_new_tokens, self.num_beams = max_new_tokens, num_beams
        self.chat = bool(getattr(self.processor, "chat_template", None))
        self.prompt = prompt if prompt is not None or not self.chat else DEFAULT_INSTRUCTION
        if self.chat and getattr(self.processor, "tokenizer", None) is not None:
            self.processor.tokenizer.padding_side = "left"  # decoder-only models continue the prompt's end

    def _prompt_text(self) -> str | None:
        if self.prompt is None:
            return None
        if not self.chat:
            return self.prompt
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def caption(self, images: list[Any]) -> list[str]:
        """One caption per PIL image (RGB)."""
        import torch

        if not images:
            return []
        kwargs: dict[str, Any] = {"images": images, "return_tensors": "pt"}
        text = self._prompt_text()
        if text is not None:
            kwargs["text"] = [text] * len(images)
            kwargs["padding"] = True
        inputs = self.processor(**kwargs).to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams,
                                      do_sample=False)
        prompt_ids = inputs.get("input_ids")
        # Decoder-only models return prompt + continuation; keep the continuation.
        if prompt_ids is not None and out.shape[1] >= prompt_ids.shape[1] \
                and torch.equal(out[:, :prompt_ids.shape[1]], prompt_ids):
            out = out[:, prompt_ids.shape[1]:]
        captions = self.processor.batch_decode(out, skip_special_tokens=True)
        return [c.strip() for c in captions]

