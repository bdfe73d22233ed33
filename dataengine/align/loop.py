"""``run_align_loop``: rounds of self-generation alignment on the sample web, with a control arm.

Round 0 is a model of the scene-world recipe (``init``, or trained here: the VQ of
``vq_scene_world.yaml`` and ``scene_world.yaml``'s stages shortened to ``base_steps``). Each
round ``r`` then runs, for the main arm:

1. the ``align`` pipeline (``pipeline_config``): ``prompts`` drawn from the world's training
   compositions (a new seed each round), ``generate`` N candidates with the arm's current model,
   ``ground_truth`` and ``self_assess`` judge them, ``assessment_docs``, ``select`` best-of-N
   by the ground truth -> ``OUT/round{r}/align``;
2. ``trainer train --align`` from the current model (``align`` steps, replay of the world's
   pairs) -> ``OUT/round{r}/run``;
3. ``trainer eval`` on the held-out compositions (greedy, no guidance, fixed seed) and the
   round's self-assessment figures (``dataengine.align.metrics``).

The control arm does the same from the same round-0 model, except that ``select`` picks
candidates blind (``strategy: random``): same prompts, same number of training documents and
steps. A gain counts only against it. Everything stays under ``OUT`` (``loop.json`` holds the
figures, ``report.html`` shows them); a rerun resumes: committed partitions and finished
training runs are kept.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dataengine.align.metrics import round_metrics

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "trainer" / "configs"
ARMS = ("main", "control")


@dataclass
class AlignLoopConfig:
    """Sizes of the loop; the defaults are the bench's CPU size."""

    rounds: int = 3
    prompts: int = 192                   # per round
    n: int = 8                           # candidates per prompt
    k: int = 1                           # chosen per prompt
    temperature: float = 0.5             # 1.0 / 0.7 / 0.5: 16 / 20 / 23 of 48 prompts had a passing candidate
    align_steps: int = 150               # training steps per round
    align_lr: float = 5e-4
    replay: float = 0.5
    control: bool = True
    world_pairs: int = 20000
    world_interleaved: int = 4000
    base_steps: int | None = None        # None: the recipe's own steps
    train_config: str = str(CONFIGS / "scene_world.yaml")
    vq_config: str = str(CONFIGS / "vq_scene_world.yaml")
    seed: int = 0
    device: str | None = None


@dataclass
class LoopResult:
    """Figures per round and arm, and where everything is."""

    out: Path
    rounds: list[dict[str, Any]] = field(default_factory=list)   # one dict per round: arm -> figures
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The form of ``loop.json``."""
        return {"out": str(self.out), "rounds": self.rounds, "seconds": self.seconds}


def pipeline_config(world: Path, model: Path, round_no: int, config: AlignLoopConfig, arm: str) -> dict[str, Any]:
    """The raw ``align`` pipeline of one round and arm (what ``pipelines/align.yaml`` spells out)."""
    model_s = str(model)
    # Model stages run one after another on one partition at a time: each may use every core.
    whole = {"concurrency": 1, "threads": os.cpu_count() or 1}
    stages: list[dict[str, Any]] = [
        {"name": "generate", "params": {"model": model_s, "n": config.n, "round": round_no,
                                        "temperature": config.temperature, "seed": config.seed},
         "resources": whole},
        {"name": "ground_truth"},
    ]
    if arm == "main":
        stages += [{"name": "self_assess", "params": {"model": model_s}, "resources": whole},
                   {"name": "assessment_docs", "params": {"model": model_s, "judge": "ground_truth"}},
                   {"name": "select", "params": {"judge": "ground_truth", "k": config.k, "pairs": True}}]
    else:
        stages += [{"name": "select", "params": {"judge": "ground_truth", "k": config.k, "strategy": "random",
                                                 "seed": config.seed}}]
    return {"name": f"align-{arm}", "source": {"kind": "prompts", "origin": "sampleweb", "path": str(world),
                                               "count": config.prompts, "seed": config.seed * 1000 + round_no},
            "stages": stages, "sink": {"maxcount": 5000}}


def evaluate_heldout(run: Path, world: Path, device: str) -> dict[str, float]:
    """Text-to-image and caption accuracy on the world's held-out compositions (greedy, seed 0)."""
    from trainer.eval.evaluate import evaluate
    from trainer.generate.sampling import SamplingOptions

    found = evaluate(str(run), str(world / "heldout"), judge="sample-web", n_prompts=10**6, cfg_scale=1.0,
                     device=device, max_batches=2, image_sampling=SamplingOptions(temperature=0.0))
    keys = [k for k in found if k.startswith(("t2i_", "caption_")) and isinstance(found[k], float)]
    return {k: found[k] for k in keys}


def _base_model(out: Path, world: Path, config: AlignLoopConfig, device: str) -> Path:
    """Round 0: the VQ and the recipe, shortened to ``base_steps``; kept when already trained."""
    from dataengine.demo.loop import shortened_stages
    from trainer.config import CorpusSpec, load_run_config
    from trainer.train.checkpoint import latest_checkpoint
    from trainer.train.loop import train
    from trainer.vq.train import load_vq_train_config, train_vq

    run = out / "round0" / "run"
    if latest_checkpoint(run) is not None and (run / "done").exists():
        return run
    vq = out / "vq" / "vq.pt"
    if not vq.exists():
        train_vq(load_vq_train_config(config.vq_config), [str(world / "pairs")], out / "vq", progress=False)
    cfg = load_run_config(config.train_config, {"tokenizer.vq": str(vq)})
    shortened_stages(cfg, config.base_steps)
    train(cfg, [CorpusSpec(str(world))], run, device=device, progress=True, resume=True)
    (run / "done").write_text("")
    return run


def _align_run(align: Path, start: Path, world: Path, out: Path, config: AlignLoopConfig, device: str) -> Path:
    from trainer.config import CorpusSpec, load_run_config
    from trainer.train.loop import train

    if (out / "done").exists():
        return out
    cfg = load_run_config(config.train_config, {"align.steps": config.align_steps, "align.lr": config.align_lr,
                                                "align.replay": config.replay})
    cfg = cfg.for_alignment([str(align)], [CorpusSpec(str(world / "pairs"))])
    train(cfg, [CorpusSpec(str(world / "pairs"))], out, device=device, progress=True, resume=True, init=str(start))
    (out / "done").write_text("")
    return out


def run_align_loop(out: Path, config: AlignLoopConfig | None = None, init: str | None = None,
                   world: str | None = None, address: str | None = None) -> LoopResult:
    """Run round 0 and ``config.rounds`` rounds into ``out`` (module docstring); returns the figures."""
    from dataengine.runner.config import parse_pipeline
    from dataengine.runner.pipeline import run_pipeline
    from dataengine.sampleweb.world import WorldConfig, write_world
    from dataengine.tokenize.stage import resolve_device

    config = config or AlignLoopConfig()
    device = config.device or resolve_device("auto")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = LoopResult(out)
    t = time.perf_counter()
    world_dir = Path(world) if world else out / "world"
    if world is None and not (world_dir / "split.json").exists():
        write_world(world_dir, WorldConfig(pairs=config.world_pairs, interleaved=config.world_interleaved,
                                           seed=config.seed))
    base = Path(init) if init else _base_model(out, world_dir, config, device)
    result.seconds["round0"] = time.perf_counter() - t
    zero = evaluate_heldout(base, world_dir, device)
    result.rounds.append({arm: {"heldout": zero} for arm in (ARMS if config.control else ARMS[:1])})
    current = {arm: base for arm in result.rounds[0]}
    _save(result, config)
    for r in range(1, config.rounds + 1):
        t = time.perf_counter()
        figures: dict[str, Any] = {}
        for arm in current:
            folder = out / f"round{r}" / ("align" if arm == "main" else "control-align")
            raw = pipeline_config(world_dir, current[arm], r, config, arm)
            run_pipeline(parse_pipeline(raw), str(folder), address=address)
            run_dir = out / f"round{r}" / ("run" if arm == "main" else "control-run")
            current[arm] = _align_run(folder, current[arm], world_dir, run_dir, config, device)
            figures[arm] = {"heldout": evaluate_heldout(current[arm], world_dir, device),
                            "data": round_metrics(str(folder))}
            print(f"round {r} {arm}: t2i {figures[arm]['heldout'].get('t2i_accuracy', float('nan')):.3f}, "
                  f"pass rate of its candidates {figures[arm]['data'].get('pass_rate', float('nan')):.3f}",
                  flush=True)
        result.rounds.append(figures)
        result.seconds[f"round{r}"] = time.perf_counter() - t
        _save(result, config)
    from dataengine.align.report import write_report

    write_report(result, out / "report.html")
    return result


def _save(result: LoopResult, config: AlignLoopConfig) -> None:
    (result.out / "loop.json").write_text(json.dumps({**result.to_json(), "config": asdict(config)}, indent=1))


def format_loop(result: LoopResult) -> str:
    """A short summary: per round, held-out accuracy of each arm and the self-assessment figures."""
    lines = ["round  arm      t2i_attr  t2i_exact  pass_rate  auroc  pick_gain"]
    for r, figures in enumerate(result.rounds):
        for arm, f in figures.items():
            h, d = f["heldout"], f.get("data", {})
            lines.append(f"{r:>5}  {arm:<7}  {h.get('t2i_accuracy', float('nan')):8.3f}  "
                         f"{h.get('t2i_all_correct', float('nan')):9.3f}  {d.get('pass_rate', float('nan')):9.3f}  "
                         f"{d.get('auroc', float('nan')):5.3f}  {d.get('pick_gain', float('nan')):9.3f}")
    lines.append(f"report: {result.out / 'report.html'}; figures: {result.out / 'loop.json'}")
    return "\n".join(lines)
