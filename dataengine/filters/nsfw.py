"""``nsfw``: flag unsafe images with a swappable detector; drop the image or the document.

A detector is anything with ``score(pictures) -> [{label: probability}, ...]`` (the
``NsfwDetector`` protocol); the image's ``nsfw`` score is its highest label probability.
Two ship here:

- ``nudenet``: NudeNet's ONNX detector, the ``320n.onnx`` bundled in the ``nudenet`` wheel
  (no download), run by onnxruntime. An image scores the confidence of its most confident
  exposed-body-part detection (``labels``), 0 when there is none.
- ``clip_head``: a safety head on CLIP image embeddings (LAION-style), given its weights:
  a torch file with the state dict of a stack of ``Linear`` layers (ReLU between them, one
  output logit), applied to the normalised embedding of the open_clip model it was trained
  on; the score is the sigmoid of the logit.

A model stage: run it on an actor pool; its ``setup`` loads the detector once per actor.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from dataengine.filters.clip import default_device, load_clip
from dataengine.filters.images import apply_action, check_action, fail_image, open_rgb, scorable
from dataengine.stages.base import Stage
from schemas import Document

# NudeNet labels that make an image unsafe (covered parts, faces and feet do not).
NUDENET_UNSAFE = ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED",
                  "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")


@runtime_checkable
class NsfwDetector(Protocol):
    """Scores pictures: for each, the probability of each unsafe label it found."""

    def score(self, pictures: list[Any]) -> list[dict[str, float]]:
        """One ``{label: probability}`` per RGB PIL picture (empty when nothing unsafe is seen)."""


class NudeNetDetector:
    """NudeNet's bundled ONNX detector; ``model_path`` swaps in another NudeNet ONNX file."""

    def __init__(self, model_path: str | None = None, labels: list[str] = NUDENET_UNSAFE, device: str = "cpu"):
        import onnxruntime
        from nudenet import NudeDetector

        path = model_path or str(resources.files("nudenet").joinpath("320n.onnx"))
        self.detector = NudeDetector(model_path=path)
        # NudeDetector builds its session without naming providers, which GPU builds of
        # onnxruntime refuse; give it one with the providers we want.
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.detector.onnx_session = onnxruntime.InferenceSession(path, providers=providers)
        self.labels = frozenset(labels)

    def score(self, pictures: list[Any]) -> list[dict[str, float]]:
        """The most confident detection per unsafe label, for each picture."""
        # NudeNet expects OpenCV's channel order (BGR), as cv2.imread gives it.
        arrays = [np.ascontiguousarray(np.asarray(p)[:, :, ::-1]) for p in pictures]
        out = []
        for detections in self.detector.detect_batch(arrays, batch_size=len(arrays)):
            found: dict[str, float] = {}
            for det in detections:
                if det["class"] in self.labels:
                    found[det["class"]] = max(found.get(det["class"], 0.0), float(det["score"]))
            out.append(found)
        return out


def mlp_from_state_dict(state: dict[str, Any]) -> Any:
    """``Linear`` layers (ReLU between) rebuilt from a state dict of ``*.weight``/``*.bias`` pairs, in order."""
    import torch

    prefixes = list(dict.fromkeys(k.rpartition(".")[0] for k in state))  # "" for a bare Linear's keys
    layers: list[torch.nn.Module] = []
    for n, prefix in enumerate(prefixes):
        dot = f"{prefix}." if prefix else ""
        weight, bias = state.get(f"{dot}weight"), state.get(f"{dot}bias")
        if weight is None or weight.ndim != 2:
            raise ValueError(f"safety head: {prefix!r} is not a Linear layer (needs a 2-d weight)")
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        linear.load_state_dict({"weight": weight, **({"bias": bias} if bias is not None else {})})
        layers += [linear] if n == len(prefixes) - 1 else [linear, torch.nn.ReLU()]
    if not layers or layers[-1].out_features != 1:
        raise ValueError("safety head: the last layer must output one logit")
    return torch.nn.Sequential(*layers).eval()


class ClipSafetyHead:
    """A safety head over open_clip image embeddings: ``head`` is its weights file."""

    def __init__(self, head: str, model: str = "ViT-L-14", pretrained: str | None = "openai",
                 device: str = "cpu", precision: str = "fp32"):
        import torch

        self.device = device
        self.model, self.preprocess, _ = load_clip(model, pretrained, device, precision)
        self.dtype = next(self.model.parameters()).dtype
        self.head = mlp_from_state_dict(torch.load(head, map_location="cpu", weights_only=True)).to(device)
        width = self.head[0].in_features
        embed_dim = self.embed([Image.new("RGB", (8, 8))]).shape[-1]
        if width != embed_dim:
            raise ValueError(f"safety head {head}: takes {width}-d embeddings, {model} gives {embed_dim}-d")

    def embed(self, pictures: list[Any]) -> Any:
        """Normalised CLIP image embeddings, one row per picture."""
        import torch

        with torch.inference_mode():
            batch = torch.stack([self.preprocess(p) for p in pictures]).to(self.device, self.dtype)
            return self.model.encode_image(batch, normalize=True).float()

    def score(self, pictures: list[Any]) -> list[dict[str, float]]:
        """The head's probability of ``nsfw`` for each picture."""
        import torch

        with torch.inference_mode():
            probs = torch.sigmoid(self.head(self.embed(pictures))).squeeze(-1)
        return [{"nsfw": float(p)} for p in probs]


DETECTORS = {"nudenet": NudeNetDetector, "clip_head": ClipSafetyHead}


@dataclass
class NsfwConfig:
    """The ``nsfw`` parameters.

    ``detector``: a name of ``DETECTORS`` built with ``detector_params`` (plus ``device``;
    ``None``: a GPU when there is one), or, from Python, any ``NsfwDetector``. ``threshold``:
    the score at which ``action`` applies; ``batch_size``: pictures per detector call.
    """

    detector: str | NsfwDetector = "nudenet"
    detector_params: dict[str, Any] | None = None
    threshold: float = 0.5
    action: str = "drop_image"
    batch_size: int = 16
    device: str | None = None

    def __post_init__(self) -> None:
        check_action(self.action)
        if isinstance(self.detector, str):
            if self.detector not in DETECTORS:
                raise ValueError(f"unknown detector {self.detector!r}; known: {', '.join(DETECTORS)}")
            try:  # checked here, so wrong parameters fail before any model loads
                inspect.signature(DETECTORS[self.detector]).bind(device=self.device, **(self.detector_params or {}))
            except TypeError as exc:
                raise ValueError(f"detector_params: {exc}") from None


class NsfwFilter(Stage):
    """Score fetched images for nudity; fail the image or drop the document at ``threshold``.

    Parameters: ``NsfwConfig``. ``image.scores["nsfw"]`` keeps every image's score; at or
    above ``threshold`` the reason is ``nsfw_high`` (detail: the label).
    """

    name = "nsfw"
    reads = frozenset({"images.data"})
    writes = frozenset({"images.scores"})
    Config = NsfwConfig
    config: NsfwConfig

    def setup(self) -> None:
        """Load the named detector (a detector object given from Python is used as it is)."""
        c = self.config
        detector = c.detector
        if isinstance(detector, str):
            detector = DETECTORS[detector](device=c.device or default_device(), **(c.detector_params or {}))
        self.detector = detector

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Score the batch's images a detector batch at a time, then apply the policy."""
        items = [(doc, image) for doc in docs for image in scorable(doc)]
        dropped: set[int] = set()
        for start in range(0, len(items), self.config.batch_size):
            chunk, pictures = [], []
            for doc, image in items[start:start + self.config.batch_size]:
                try:
                    pictures.append(open_rgb(image.data))
                except Exception as exc:  # undecodable bytes: the image goes, with the reason
                    fail_image(self, doc, image, "decode_failed", detail=f"{type(exc).__name__}: {exc}"[:500])
                    continue
                chunk.append((doc, image))
            if not chunk:
                continue
            for (doc, image), labels in zip(chunk, self.detector.score(pictures)):
                label = max(labels, key=labels.get) if labels else None
                image.scores["nsfw"] = labels[label] if label else 0.0
                if label and id(doc) not in dropped and image.scores["nsfw"] >= self.config.threshold:
                    if apply_action(self, doc, image, self.config.action, "nsfw_high", value=image.scores["nsfw"],
                                    threshold=self.config.threshold, detail=label):
                        dropped.add(id(doc))
        return [doc for doc in docs if id(doc) not in dropped]
