"""``ImageTokenizer``: the VQ model behind the API the engine calls, ``encode(images) -> codes``.

Images go in as PIL images, encoded bytes or uint8 arrays (H, W, 3); they are resized on
the shorter side and centre-cropped to the tokenizer's resolution. Codes come out as int64
arrays (N, h, w), and ``decode`` returns uint8 arrays (N, R, R, 3).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from trainer.torch_files import CheckpointError, read_torch_file
from trainer.vq.janus import KIND as JANUS_KIND
from trainer.vq.janus import JanusVQ
from trainer.vq.model import KIND as VQ_KIND
from trainer.vq.model import VQModel

ImageLike = Image.Image | bytes | np.ndarray


def to_pil(image: ImageLike) -> Image.Image:
    """An RGB PIL image from bytes, an array or a PIL image (alpha composited on white)."""
    if isinstance(image, (bytes, bytearray)):
        image = Image.open(io.BytesIO(image))
        image.load()
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(image.astype(np.uint8))
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("RGB")


def square_resize(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` and centre-crop to a square."""
    w, h = image.size
    if (w, h) == (size, size):
        return image
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_tensor(images: Sequence[ImageLike], size: int) -> torch.Tensor:
    """Float tensor (N, 3, size, size) in [-1, 1]."""
    arrays = [np.asarray(square_resize(to_pil(im), size), dtype=np.float32) for im in images]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return batch / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """uint8 arrays (N, H, W, 3) from a float tensor (N, 3, H, W) in [-1, 1]."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


class ImageTokenizer:
    """A VQ model with image-level ``encode``/``decode`` and checkpoint IO.

    The model is our ``VQModel`` (``trainer vq train``) or a pretrained one read from a
    Hugging Face folder (``trainer.vq.janus.JanusVQ``).
    """

    def __init__(self, model: VQModel | JanusVQ, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.device = torch.device(device)

    @property
    def resolution(self) -> int:
        """Side of the square the images are resized and cropped to."""
        return self.model.resolution

    @property
    def codebook_size(self) -> int:
        """Number of codes."""
        return self.model.codebook_size

    @property
    def grid(self) -> int:
        """Side of the code grid of one image."""
        return self.model.grid

    def encode(self, images: Sequence[ImageLike], batch_size: int = 64) -> np.ndarray:
        """Code grids (N, h, w), int64."""
        out = []
        for i in range(0, len(images), batch_size):
            x = to_tensor(images[i:i + batch_size], self.resolution).to(self.device)
            out.append(self.model.encode(x).cpu().numpy())
        if not out:
            return np.zeros((0, self.grid, self.grid), dtype=np.int64)
        return np.concatenate(out).astype(np.int64)

    def decode(self, codes: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """uint8 images (N, R, R, 3) for code grids (N, h, w)."""
        codes = np.asarray(codes)
        if codes.ndim == 2:
            codes = codes[None]
        if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise ValueError(f"image codes must lie in 0..{self.codebook_size - 1}")
        out = []
        for i in range(0, len(codes), batch_size):
            c = torch.from_numpy(codes[i:i + batch_size].astype(np.int64)).to(self.device)
            out.append(to_uint8(self.model.decode(c)))
        return np.concatenate(out) if out else np.zeros((0, self.resolution, self.resolution, 3),
                                                         dtype=np.uint8)

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        """Write config and weights to one file (written aside and renamed, so it is never half there)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({**self.model.checkpoint(), "extra": extra or {}}, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> ImageTokenizer:
        """Load a ``vq.pt`` written by ``save`` (or a folder holding one), or a Hugging Face Janus VQ folder."""
        path = Path(path)
        if path.is_dir() and (path / "config.json").exists() and not (path / "vq.pt").exists():
            return cls(JanusVQ.from_pretrained(path), device)
        if path.is_dir():
            path = path / "vq.pt"
        if not path.exists():
            raise FileNotFoundError(f"VQ checkpoint {path} does not exist (train one with `trainer vq train`)")
        blob = read_torch_file(path)
        kind = blob.get("kind") if isinstance(blob, dict) else None
        if kind not in (VQ_KIND, JANUS_KIND):
            raise CheckpointError(f"{path} is not a VQ checkpoint written by `trainer vq train`")
        try:
            model = VQModel.from_checkpoint(blob) if kind == VQ_KIND else JanusVQ.from_checkpoint(blob)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            # A config or weights that do not fit the model: name the file, not a traceback.
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise CheckpointError(f"{path} is not a valid VQ checkpoint: {reason}") from None
        return cls(model, device)
