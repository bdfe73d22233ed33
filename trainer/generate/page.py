"""``trainer generate``: run a checkpoint on prompts and write one self-contained HTML page of results."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.config import ConfigError
from trainer.generate.generator import Generator
from trainer.generate.sampling import SamplingOptions
from trainer.train.checkpoint import load_trained

_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}"
          "img{width:192px;image-rendering:pixelated;border:1px solid #ccc;margin:4px}"
          ".prompt{color:#555}.item{border-bottom:1px solid #eee;padding:1em 0}")


def image_tag(image: np.ndarray) -> str:
    """An ``<img>`` with the image inlined as a PNG data URL."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def generate_page(checkpoint: str, prompts: list[str], mode: str, out: str, images: list[str] | None = None,
                  cfg_scale: float = 3.0, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                  max_new_tokens: int = 256, seed: int = 0, samples: int = 1) -> Path:
    """Generate in ``mode`` (text, image, caption, interleaved) and write the page to ``out``."""
    model, vocab, _ = load_trained(checkpoint)
    gen = Generator(model, vocab)
    opts = SamplingOptions(temperature, top_k, top_p)
    items: list[str] = []
    if mode == "caption":
        if not images:
            raise ConfigError("--mode caption needs at least one --image")
        data = []
        for path in images:
            if not Path(path).exists():
                raise FileNotFoundError(f"image {path} does not exist")
            try:
                Image.open(path).verify()
            except (OSError, SyntaxError) as exc:
                raise ConfigError(f"image {path} cannot be read as an image ({exc})") from None
            data.append(Path(path).read_bytes())
        captions = gen.captions(data, max_new_tokens, opts if temperature > 0 else None, seed)
        for raw, text in zip(data, captions):
            shown = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
            items.append(f"{image_tag(shown)}<p>{html.escape(text)}</p>")
    else:
        if not prompts:
            raise ConfigError(f"--mode {mode} needs at least one --prompt")
        for prompt in prompts:
            batch = [prompt] * samples
            if mode == "text":
                body = "".join(f"<p>{html.escape(t)}</p>" for t in gen.text(batch, max_new_tokens, opts, seed))
            elif mode == "image":
                body = "".join(image_tag(im) for im in gen.images(batch, cfg_scale, opts, seed))
            else:
                docs = gen.interleaved(batch, max_new_tokens, opts, seed)
                body = "".join("<div>" + "".join(image_tag(p) if isinstance(p, np.ndarray) else
                                                 f"<p>{html.escape(p)}</p>" for p in d.parts) + "</div>" for d in docs)
            items.append(f'<p class="prompt">{html.escape(prompt)}</p>{body}')
    page = (f"<!doctype html><meta charset='utf-8'><title>trainer generate</title><style>{_STYLE}</style>"
            f"<h1>{html.escape(mode)} &middot; {html.escape(str(checkpoint))}</h1>"
            + "".join(f'<div class="item">{item}</div>' for item in items))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
