"""A recipe's stages against its corpora: checked before the first step, run stage by stage."""

from __future__ import annotations

import json

import pytest
from trainer_corpus import TINY

from dataengine.sampleweb.world import WorldConfig, write_world
from trainer.config import ConfigError, CorpusSpec, load_run_config
from trainer.train.loop import train

RECIPE = "trainer/configs/scene_world.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_world(out, WorldConfig(pairs=120, interleaved=20))
    return out


def recipe(**overrides):
    small = {k: v for k, v in TINY.items() if not k.startswith("data.")}
    return load_run_config(RECIPE, {**small, "data.num_workers": 0, **overrides})


def test_the_recipe_runs_its_stages_on_the_parts_of_the_world(world, untrained_vq, tmp_path):
    cfg = recipe(**{"model.max_seq_len": 512})
    for stage, steps in zip(cfg.stages, (3, 2, 2)):
        stage.steps = steps
    rows = train(cfg, [CorpusSpec(str(world))], tmp_path / "run", vq=str(untrained_vq), progress=False)
    assert [(r["stage"], r["seq_len"]) for r in rows] == [("align", 128)] * 3 + [("mixed", 256)] * 2 + [
        ("interleaved", 512)] * 2
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["stages"][0]["mixture"] == [{"path": "{data}/pairs", "weight": 1.0}]


def test_data_placeholder_without_data_is_an_error(untrained_vq, tmp_path):
    with pytest.raises(ConfigError, match="stage 'align' names \\{data\\}.*--data"):
        train(recipe(), [], tmp_path / "run", vq=str(untrained_vq), progress=False)


def test_a_stage_whose_rows_cannot_hold_an_image_fails_before_training(world, untrained_vq, tmp_path):
    cfg = recipe()
    cfg.stages[1].seq_len = 48
    with pytest.raises(ConfigError, match="stage 'mixed': seq_len 48 cannot hold one image of .*pairs"):
        train(cfg, [CorpusSpec(str(world))], tmp_path / "run", vq=str(untrained_vq), progress=False)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_missing_stage_corpus_fails_before_training(world, untrained_vq, tmp_path):
    cfg = recipe()
    cfg.stages[2].mixture[1].path = "{data}/missing"
    with pytest.raises(ConfigError, match="stage 'interleaved': corpus .*missing does not exist"):
        train(cfg, [CorpusSpec(str(world))], tmp_path / "run", vq=str(untrained_vq), progress=False)


def test_training_data_that_overlaps_the_held_out_split_is_refused(world, untrained_vq, tmp_path):
    with pytest.raises(ConfigError, match="training corpus .*heldout holds 64 scenes of the held-out split"):
        train(recipe(stages=[]), [CorpusSpec(str(world / "heldout"))], tmp_path / "run", vq=str(untrained_vq),
              progress=False)
    # A split that names a composition the training pairs use: the pairs corpus is refused, in one line.
    split = json.loads((world / "split.json").read_text())
    first = json.loads((world / "pairs" / "ground_truth.jsonl").read_text().splitlines()[0])["scene"]
    obj = first["objects"][0]
    split["compositions"].append([obj["shape"], obj["colour"], obj["count"], obj["position"]])
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / "split.json").write_text(json.dumps(split))
    (world / "pairs").rename(tampered / "pairs")
    try:
        with pytest.raises(ConfigError) as info:
            train(recipe(), [CorpusSpec(str(tampered))], tmp_path / "run", vq=str(untrained_vq), progress=False)
        assert "\n" not in str(info.value) and "held-out split" in str(info.value)
    finally:
        (tampered / "pairs").rename(world / "pairs")
