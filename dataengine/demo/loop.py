"""``run_full_loop``: the whole loop on the embedded sample web, from crawl to a trained model's captions.

1. generate and serve the sample web, run a pipeline over it (by default
   ``pipelines/sampleweb_filtered.yaml``: extract, filter, fetch) into ``OUT/corpus``
   (``dataengine.demo.engine.run_demo``);
2. deduplicate it in place (``dataengine.dedup``, ``pipelines/dedup/sampleweb.yaml``);
3. write a small scene world (``dataengine sample-web world``: pairs and interleaved documents
   with a held-out split of compositions) into ``OUT/world``; train the text tokenizer on the
   corpus's text (``dataengine tokenizer train``) and the VQ on the images of both
   (``trainer vq train``);
4. run ``caption`` (only with a ``caption_model``: images without usable alt text) and
   ``tokenize`` over it, on actor pools, into ``OUT/tokenized`` (``CorpusSource``);
5. publish balanced final shards into ``OUT/final``;
6. train the unified model with the scene-world recipe (``trainer/configs/scene_world.yaml``,
   its stages shortened to ``train_steps``): pairs, then pairs with interleaved documents and
   the final corpus (the loader reads its ``KEY.tokens.npy``), then interleaved fine-tuning;
7. caption the scenes of the final corpus with the trained model (the ``caption`` stage, backend
   ``unified``) and score the captions against the sample web's ground truth; do the same for
   new scenes drawn by the sample web's renderer, which the model never saw; score
   text-to-image on the world's held-out compositions (``trainer eval``), and draw them into
   ``OUT/samples/grid.png``, prompt beside image.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dataengine.caption.judge import CaptionReport, load_scenes, score_captions
from dataengine.demo.engine import claim_out, run_demo

if TYPE_CHECKING:
    from dataengine.caption.stage import Captioner

REPO = Path(__file__).resolve().parents[2]
PIPELINES, TRAINER_CONFIGS = REPO / "pipelines", REPO / "trainer" / "configs"
GROUND_TRUTH = "ground_truth.jsonl"
STEP_DIRS = ("world", "tokenizer", "vq", "tokenized", "final", "run", "samples")  # corpus/ and site/ belong to run_demo


@dataclass
class LoopConfig:
    """Sizes of the loop; the defaults make ``make demo`` (a few CPU minutes of training)."""

    pages: int = 60
    seed: int = 0
    pipeline: str = str(PIPELINES / "sampleweb_filtered.yaml")
    dedup_config: str = str(PIPELINES / "dedup" / "sampleweb.yaml")
    vocab_size: int = 1024
    world_pairs: int = 4000              # scene-world documents beside the crawled corpus
    world_interleaved: int = 800
    vq_config: str = str(TRAINER_CONFIGS / "vq_scene_world.yaml")
    vq_steps: int | None = None          # None: the VQ config's
    train_config: str = str(TRAINER_CONFIGS / "scene_world.yaml")
    train_steps: int | None = None       # None: the run config's; else its stages shortened in proportion
    train_overrides: dict[str, Any] = field(default_factory=dict)  # "section.key": value
    world_size: int = 1
    tokens_per_shard: int = 16384
    caption_model: str | None = None     # an HF captioner for step 4 (hub name or local path)
    eval_images: int = 48                # scene images the trained model captions in step 7
    samples: int = 16                    # held-out prompts drawn into samples/grid.png in step 7
    device: str = "cpu"


@dataclass
class LoopResult:
    """Where everything went and what came out."""

    out: Path
    corpus: str
    tokenized: str
    final: str
    run: Path
    documents: dict[str, int] = field(default_factory=dict)   # per step
    last_metrics: dict[str, Any] = field(default_factory=dict)
    captions: CaptionReport | None = None          # scenes of the final corpus, against the ground truth
    heldout_captions: CaptionReport | None = None  # new scenes the model never saw
    samples: list[Path] = field(default_factory=list)
    text_to_image: dict[str, Any] = field(default_factory=dict)  # trainer eval on the world's held-out split
    seconds: dict[str, float] = field(default_factory=dict)


def _step(result: LoopResult, name: str, start: float) -> float:
    now = time.perf_counter()
    result.seconds[name] = now - start
    print(f"[loop] {name} done in {now - start:.1f}s", file=sys.stderr)
    return now


def tokenize_pipeline(corpus: str, text_tokenizer: str, vq: str, max_grid: int,
                      caption_model: str | None) -> dict[str, Any]:
    """The pipeline that captions (when a model is given) and tokenizes an existing corpus."""
    stages: list[dict[str, Any]] = []
    if caption_model:
        stages.append({"name": "caption", "params": {"model": caption_model, "policy": "missing_alt"},
                       "resources": {"concurrency": 1}})
    stages.append({"name": "tokenize", "params": {"text_tokenizer": text_tokenizer, "vq": vq, "max_grid": max_grid,
                                                  "image_descriptions": True},
                   "resources": {"concurrency": 1}})
    return {"name": "tokenize", "source": {"kind": "corpus", "path": corpus}, "stages": stages,
            "sink": {"maxcount": 1000}}


def caption_scenes(final: str, captioner: Captioner, scenes: dict, limit: int) -> CaptionReport:
    """Caption up to ``limit`` scene images of ``final`` with ``captioner`` (policy ``all``) and score them."""
    from dataengine.shards import iter_corpus
    from dataengine.stages.base import Batch

    docs, n = [], 0
    for doc in iter_corpus(final):
        if n >= limit:
            break
        wanted = [im for im in doc.images if im.status == "ok" and urlsplit(im.url or "").path in scenes]
        if wanted:
            docs.append(doc)
            n += len(wanted)
    batch = captioner(Batch("loop-eval", docs))
    pairs = ((im.url, im.caption) for d in batch.docs for im in d.images if im.caption_model == captioner.model.name)
    return score_captions(pairs, scenes, captioner.model.name, n_examples=6)


def caption_new_scenes(captioner: Captioner, n: int, seed: int) -> CaptionReport:
    """Caption ``n`` scenes the sample web's renderer draws afresh (never seen in training) and score them."""
    import random

    from dataengine.sampleweb.images import png_bytes
    from dataengine.sampleweb.scenes import random_scene, render_scene
    from dataengine.stages.base import Batch
    from schemas import Document, ImageRecord, Segment, SourceRef

    rng = random.Random(seed)
    scenes, docs = {}, []
    for k in range(n):
        scene = random_scene(rng)
        url = f"http://heldout.invalid/scene-{k}.png"
        scenes[urlsplit(url).path] = scene
        data = png_bytes(render_scene(scene, seed=rng.randrange(2**31)))
        image = ImageRecord(0, url, status="ok", format="png", data=data)
        docs.append(Document(f"heldout{k:04d}", url, SourceRef("generated", url), [Segment.of_image(0)], [image]))
    batch = captioner(Batch("loop-heldout", docs))
    return score_captions(((d.url, d.images[0].caption) for d in batch.docs), scenes, captioner.model.name,
                          n_examples=3)


def draw_grid(run: Path, prompts: list[str], path: Path, device: str, columns: int = 4) -> Path:
    """The images the trained model draws for ``prompts`` (greedy, no guidance), each above its prompt, as one PNG."""
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    from trainer.generate.generator import Generator
    from trainer.generate.sampling import SamplingOptions
    from trainer.train.checkpoint import load_trained

    model, vocab, _ = load_trained(run, device)
    images = Generator(model, vocab, device).images(prompts, 1.0, SamplingOptions(temperature=0.0), seed=0)
    tile, text_h = 128, 40
    rows = -(-len(prompts) // columns)
    grid = Image.new("RGB", (columns * (tile + 8), rows * (tile + text_h)), (255, 255, 255))
    draw, font = ImageDraw.Draw(grid), ImageFont.load_default(size=10)
    for k, (prompt, pixels) in enumerate(zip(prompts, images)):
        x, y = (k % columns) * (tile + 8), (k // columns) * (tile + text_h)
        grid.paste(Image.fromarray(pixels).resize((tile, tile), Image.NEAREST), (x, y))
        draw.rectangle((x, y, x + tile - 1, y + tile - 1), outline=(200, 200, 200))
        draw.multiline_text((x, y + tile + 2), "\n".join(textwrap.wrap(prompt, 26)[:3]), fill=(0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


def shortened_stages(cfg: Any, steps: int | None) -> None:
    """Scale the run's stages to ``steps`` in all, in proportion (each keeps at least one step)."""
    if not steps or not cfg.stages:
        return
    total = sum(stage.steps for stage in cfg.stages)
    for stage in cfg.stages:
        stage.steps = max(1, round(stage.steps * steps / total))


def run_full_loop(out: Path, config: LoopConfig | None = None, address: str | None = None) -> LoopResult:
    """Run steps 1-7 (module docstring) into ``out``; every step's output stays there for inspection."""
    from dataengine.catalog.catalog import Catalog
    from dataengine.dedup import load_config, run_dedup
    from dataengine.publish.plan import PlanConfig
    from dataengine.publish.publish import publish
    from dataengine.runner.config import parse_pipeline
    from dataengine.runner.pipeline import run_pipeline
    from dataengine.sampleweb.world import WorldConfig, write_world
    from dataengine.tokenize.commands import train_corpus_tokenizer
    from trainer.config import CorpusSpec, load_run_config
    from trainer.eval.evaluate import evaluate
    from trainer.generate.sampling import SamplingOptions
    from trainer.train.loop import train
    from trainer.vq.train import load_vq_train_config, train_vq

    config = LoopConfig() if config is None else config
    out = Path(out)
    # Every step starts afresh (the crawl's documents carry the server's port, which changes), but
    # only what an earlier demo wrote here is removed.
    claim_out(out, ["site", "corpus", "report.html", *STEP_DIRS], fresh=["corpus", "report.html", *STEP_DIRS])
    result = LoopResult(out, "", str(out / "tokenized"), str(out / "final"), out / "run")
    t = time.perf_counter()
    result.corpus = run_demo(out, config.pages, config.seed, Path(config.pipeline), address)
    t = _step(result, "crawl", t)
    dedup = run_dedup(result.corpus, load_config(config.dedup_config), executor="ray", address=address)
    result.documents["crawled"], result.documents["deduplicated"] = dedup.documents_in, dedup.documents_out
    t = _step(result, "dedup", t)

    world = out / "world"
    write_world(world, WorldConfig(pairs=config.world_pairs, interleaved=config.world_interleaved, seed=config.seed))
    tokenizer_dir = str(out / "tokenizer")
    train_corpus_tokenizer(result.corpus, config.vocab_size, tokenizer_dir)
    vq_cfg = load_vq_train_config(config.vq_config)
    train_vq(vq_cfg, [str(world / "pairs"), result.corpus], out / "vq", max_steps=config.vq_steps, progress=False)
    vq = str(out / "vq" / "vq.pt")
    t = _step(result, "tokenizers", t)

    run_cfg = load_run_config(config.train_config, {"tokenizer.text": tokenizer_dir, "tokenizer.vq": vq,
                                                    **config.train_overrides})
    raw = tokenize_pipeline(result.corpus, tokenizer_dir, vq, run_cfg.tokenizer.max_grid, config.caption_model)
    result.documents["tokenized"] = run_pipeline(parse_pipeline(raw), result.tokenized, address=address).documents
    t = _step(result, "caption+tokenize", t)

    published = publish(result.tokenized, result.final,
                        PlanConfig(config.world_size, tokens_per_shard=config.tokens_per_shard, seed=config.seed),
                        progress=False)
    result.documents["published"] = sum(s.n_docs for s in published.shards)
    t = _step(result, "publish", t)

    shortened_stages(run_cfg, config.train_steps)
    for stage in run_cfg.stages[1:]:  # the crawled corpus joins once the pairs have aligned text and images
        stage.mixture.append(CorpusSpec(result.final, 1.0))
    rows = train(run_cfg, [CorpusSpec(str(world))], result.run, max_steps=None if run_cfg.stages else
                 config.train_steps, device=config.device, progress=True)
    result.last_metrics = rows[-1] if rows else {}
    t = _step(result, "train", t)

    from dataengine.caption.stage import Captioner

    scenes = load_scenes(Path(out) / "site" / GROUND_TRUTH)
    captioner = Captioner(str(result.run), backend="unified", policy="all", device=config.device)
    result.captions = caption_scenes(result.final, captioner, scenes, config.eval_images)
    result.heldout_captions = caption_new_scenes(captioner, config.eval_images, config.seed + 1)
    result.text_to_image = evaluate(str(result.run), str(world / "heldout"), judge="sample-web", n_prompts=10**6,
                                    cfg_scale=1.0, device=config.device, max_batches=2,
                                    image_sampling=SamplingOptions(temperature=0.0))
    held = sorted({s.caption() for s in load_scenes(world / "heldout" / GROUND_TRUTH).values()})
    prompts = held[::max(1, len(held) // config.samples)][:config.samples]
    result.samples = [draw_grid(result.run, prompts, out / "samples" / "grid.png", config.device)]
    _step(result, "evaluate", t)
    with Catalog(result.final) as cat:
        tokens = cat.arrow("select sum(n_text_tokens) t, sum(n_image_tokens) i from docs").to_pylist()[0]
    result.documents["text_tokens"], result.documents["image_tokens"] = tokens["t"] or 0, tokens["i"] or 0
    return result


def where_and_next(result: LoopResult, report: Path) -> str:
    """Where the demo's outputs are, its two scores against chance, and commands to try next."""
    t2i = result.text_to_image
    lines = ["", "done. What the demo made:",
             f"  corpus   {result.corpus}   (crawled, filtered, deduplicated; {result.final} is it tokenized and "
             "published)",
             f"  report   {report}   (funnel, removals by reason, images, the model's samples; open it in a browser)",
             f"  model    {result.run}",
             f"  samples  {', '.join(str(p) for p in result.samples)}"]
    if t2i.get("t2i_accuracy") is not None:
        lines += [f"  text-to-image on {t2i['t2i_prompts']} held-out compositions: {t2i['t2i_accuracy']:.3f} of "
                  f"attributes right (chance {t2i['t2i_chance']:.3f}), all right {t2i['t2i_all_correct']:.3f} "
                  f"(chance {t2i['t2i_exact_chance']:.3f})",
                  f"  captions of their images: {t2i.get('caption_accuracy') or 0:.3f} of attributes right "
                  f"(chance {t2i['caption_chance']:.3f})",
                  "  A tiny model trained for a few minutes: expect the asked colours in about the right places; "
                  "counts and shapes are often wrong (bench/model_quality.py trains the full recipe)."]
    lines += ["next:",
              f'  dataengine sql {result.final} "select count(*), sum(n_text_tokens), sum(n_image_tokens) from docs"',
              f'  trainer generate {result.run} --prompt "Two red circles on the left." --out samples.html',
              f"  trainer eval {result.run} --data {result.out / 'world' / 'heldout'} --judge sample-web"]
    return "\n".join(lines)


def format_loop(result: LoopResult) -> str:
    """A summary of ``run_full_loop``'s result for the terminal."""
    docs = result.documents
    lines = [f"documents: crawled {docs.get('crawled')}, after dedup {docs.get('deduplicated')}, "
             f"tokenized {docs.get('tokenized')}, published {docs.get('published')} "
             f"({docs.get('text_tokens')} text + {docs.get('image_tokens')} image tokens) in {result.final}"]
    m = result.last_metrics
    if m:
        lines.append(f"trained {m.get('step')} steps: loss {m.get('loss', 0):.3f} (text {m.get('loss_text', 0):.3f}, "
                     f"image {m.get('loss_image', 0):.3f}); run folder {result.run}")
    for what, c in (("scenes of the corpus", result.captions), ("new scenes it never saw", result.heldout_captions)):
        if c is None:
            continue
        lines.append(f"captions by the trained model of {c.n} {what}, scored against the ground truth: {c.mean:.3f} "
                     "(1.0 = every count, colour, shape and position right)")
        lines += [f"  {e['score']:.2f}  model: {e['caption']!r}\n        truth: {e['truth']!r}" for e in c.examples]
    t2i = result.text_to_image
    if t2i.get("t2i_accuracy") is not None:
        lines.append(f"text-to-image on {t2i['t2i_prompts']} held-out compositions (never in training), judged on the "
                     f"pixels: attributes right {t2i['t2i_accuracy']:.3f} (chance {t2i['t2i_chance']:.3f}), every "
                     f"attribute right {t2i['t2i_all_correct']:.3f}; captions of their images "
                     f"{t2i.get('caption_accuracy') or 0:.3f}; the VQ alone keeps {t2i['vq_ceiling_accuracy']:.3f}")
    if result.samples:
        lines.append(f"held-out prompts and what the model drew for them: {', '.join(str(p) for p in result.samples)}")
    lines.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items()))
    return "\n".join(lines)
