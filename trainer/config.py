"""Typed configuration of a training run, read from YAML (``trainer/configs/*.yaml``).

A run config has five sections: ``model`` (the transformer), ``tokenizer`` (text tokenizer
and VQ image tokenizer), ``data`` (packing, batch, mixture, modality loss weights),
``train`` (optimiser, schedule, checkpoints) and optional ``stages`` (progressive training:
which parameters train, which data mixture and sequence length, for how many steps).
Unknown keys are errors, so a typo never silently falls back to a default. The YAML is read
by the loader shared with the engine (``schemas.config``); its ``ConfigError`` is this module's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.config import ConfigError, from_mapping, load
from trainer.model import ModelConfig

__all__ = [
    "AlignConfig",
    "ConfigError",
    "CorpusSpec",
    "DataConfig",
    "RunConfig",
    "StageConfig",
    "TokenizerConfig",
    "TrainConfig",
    "load_run_config",
    "run_config_from_dict",
]


@dataclass
class TokenizerConfig:
    """Which text tokenizer (a ``trainer.text_tokenizer`` spec: ``byte``, a local path or a hub name) and which VQ."""

    text: str = "byte"
    vq: str | None = None           # path to a VQ checkpoint (``trainer vq train`` output)
    max_grid: int = 64              # largest image grid side the token layout can express


@dataclass
class CorpusSpec:
    """One corpus of a mixture and its sampling weight."""

    path: str
    weight: float = 1.0


@dataclass
class DataConfig:
    """How shards become packed training batches."""

    seq_len: int = 256
    batch_size: int = 8
    num_workers: int = 0
    shuffle_buffer: int = 64
    seed: int = 0
    text_loss_weight: float = 1.0
    image_loss_weight: float = 1.0
    pair_order: str = "random"       # "as_is" or "random": present pairs as text->image or image->text
    condition_dropout: float = 0.1   # drop the text before an image (classifier-free guidance)
    min_piece: int = 16              # don't start a document piece in fewer free slots than this
    pack_lookahead: int = 8          # documents searched for one that fits the space left (none is cut)
    tokenize_batch: int = 16         # samples tokenized together, their images in one VQ batch
    mixture: list[CorpusSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pair_order not in ("as_is", "random"):
            raise ConfigError(f"pair_order must be 'as_is' or 'random', got {self.pair_order!r}")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ConfigError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        if self.seq_len < 8:
            raise ConfigError(f"seq_len must be at least 8, got {self.seq_len}")


@dataclass
class TrainConfig:
    """Optimiser, schedule and bookkeeping of the training loop."""

    max_steps: int = 200
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    grad_accum: int = 1
    compile: bool = False
    bf16: bool = True                # autocast to bf16 on GPU (ignored on CPU)
    log_every: int = 10
    ckpt_every: int = 100
    keep_checkpoints: int = 2
    seed: int = 0
    peak_flops: float | None = None  # per-device peak for MFU; guessed from the GPU name when None


@dataclass
class StageConfig:
    """One progressive stage: its length, trainable parameters, data mixture, sequence length and batch.

    A mixture path may start with ``{data}``, which stands for the ``--data`` corpus (the first
    one), so one recipe names the parts of a corpus family (``{data}/pairs``) wherever it lives.
    A curriculum over sequence length is stages with growing ``seq_len`` (and a smaller
    ``batch_size``, to keep the tokens per step about the same).
    """

    name: str
    steps: int
    trainable: list[str] = field(default_factory=lambda: ["*"])  # fnmatch patterns on parameter names
    mixture: list[CorpusSpec] = field(default_factory=list)       # empty: the run's data
    seq_len: int | None = None                                    # None: data.seq_len
    batch_size: int | None = None                                 # None: data.batch_size

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"stage {self.name!r}: steps must be at least 1, got {self.steps}")
        if self.seq_len is not None and self.seq_len < 8:
            raise ConfigError(f"stage {self.name!r}: seq_len must be at least 8, got {self.seq_len}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"stage {self.name!r}: batch_size must be at least 1, got {self.batch_size}")


@dataclass
class AlignConfig:
    """Fine-tuning on a self-generation round's output (``trainer train --align DIR --init RUN``).

    The run becomes one stage, ``align``, of ``steps`` at ``lr`` (warmup ``warmup_steps``), whose
    mixture draws ``replay`` of its documents from the ``--data`` corpora (replay of pretraining
    data, so the model does not drift) and the rest from the alignment corpora: the chosen
    candidates and the assessment documents (the losing sides of preference pairs are never
    fine-tuning targets).
    """

    steps: int = 300
    lr: float = 5e-4
    warmup_steps: int = 20
    replay: float = 0.5
    seq_len: int | None = None                                    # None: data.seq_len
    batch_size: int | None = None                                 # None: data.batch_size

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"align.steps must be at least 1, got {self.steps}")
        if not 0.0 <= self.replay < 1.0:
            raise ConfigError(f"align.replay must be in [0, 1), got {self.replay}")


@dataclass
class RunConfig:
    """A whole training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stages: list[StageConfig] = field(default_factory=list)
    align: AlignConfig = field(default_factory=AlignConfig)

    def for_alignment(self, align: list[str], data: list[CorpusSpec]) -> RunConfig:
        """This config as an alignment run: one ``align`` stage over ``align`` corpora plus replay of ``data``."""
        a = self.align
        mixture = [CorpusSpec(path, (1.0 - a.replay) / len(align)) for path in align]
        if a.replay > 0:
            if not data:
                raise ConfigError(f"align.replay is {a.replay}: pass the pretraining corpus with --data "
                                  "(or set align.replay=0)")
            mixture += [CorpusSpec(c.path, a.replay * c.weight / sum(d.weight for d in data)) for c in data]
        stage = StageConfig("align", a.steps, mixture=mixture, seq_len=a.seq_len, batch_size=a.batch_size)
        train = dataclasses.replace(self.train, lr=a.lr, warmup_steps=min(a.warmup_steps, a.steps // 2),
                                    max_steps=a.steps)
        return dataclasses.replace(self, stages=[stage], train=train)

    def stage_plan(self) -> list[StageConfig]:
        """The stages to run; one stage over ``train.max_steps`` when none are declared."""
        if self.stages:
            return list(self.stages)
        return [StageConfig(name="main", steps=self.train.max_steps)]

    def stage_mixtures(self, data: list[CorpusSpec]) -> list[list[CorpusSpec]]:
        """Each stage's corpora: its own mixture with ``{data}`` put in, else ``data`` (the ``--data`` corpora)."""
        out = []
        for stage in self.stage_plan():
            mixture = stage.mixture or data
            if any(c.path.startswith("{data}") for c in mixture):
                if not data:
                    raise ConfigError(f"stage {stage.name!r} names {{data}} in its mixture: pass --data CORPUS")
                root = data[0].path.rstrip("/")
                mixture = [CorpusSpec(root + c.path[len("{data}"):] if c.path.startswith("{data}") else c.path,
                                      c.weight) for c in mixture]
            out.append(mixture)
        return out

    def total_steps(self) -> int:
        """Steps of the whole plan (the length of the learning-rate schedule)."""
        return sum(s.steps for s in self.stage_plan())

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for saving beside checkpoints."""
        return dataclasses.asdict(self)


def load_run_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a run config from YAML; ``overrides`` maps dotted keys (``train.lr``) to values."""
    return load(RunConfig, path, overrides, what="training config")


def run_config_from_dict(raw: dict[str, Any]) -> RunConfig:
    """Rebuild a ``RunConfig`` from ``to_dict()`` output (as saved in a run directory)."""
    return from_mapping(RunConfig, raw)
