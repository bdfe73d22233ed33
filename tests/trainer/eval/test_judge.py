"""The ground-truth judge agrees with the sample web's own drawings and captions, and rejects wrong ones."""

from __future__ import annotations

import random

import numpy as np

from schemas.scenes import Scene, SceneObject
from trainer.eval.judge import judge_caption, judge_image, parse_caption, summarise


def test_rendered_scenes_score_perfectly():
    from dataengine.sampleweb.scenes import random_scene, render_scene

    rng = random.Random(0)
    scores = []
    for i in range(60):
        scene = random_scene(rng, two_groups=0.3)
        image = np.asarray(render_scene(scene, seed=i))
        scores.append(judge_image(image, scene))
        # Upscaled (as a decoder at another resolution would give) it still scores the same.
        assert [s.all for s in judge_image(image.repeat(2, 0).repeat(2, 1), scene)] == [s.all for s in scores[-1]]
    summary = summarise(scores, "t2i")
    assert summary["t2i_accuracy"] > 0.98 and summary["t2i_all_correct"] > 0.95


def test_scenes_drawn_at_the_vq_resolution_score_perfectly():
    # The scene world draws at 32x32, the VQ's resolution: crisp there, where a 64x64 scene resized to 32
    # loses the shape of about one group in eight.
    from dataengine.sampleweb.scenes import random_scene, render_scene

    rng = random.Random(1)
    scores = []
    for i in range(80):
        scene = random_scene(rng, size=32, two_groups=0.3)
        scores.append(judge_image(np.asarray(render_scene(scene, seed=i)), scene))
    assert summarise(scores, "t")["t_all_correct"] == 1.0


def test_chance_levels_of_one_attribute_and_of_all():
    one = Scene((SceneObject("circle", "red", 2, "left"),))
    two = Scene((*one.objects, SceneObject("square", "blue", 1, "right")))
    blank = np.full((32, 32, 3), 255, dtype=np.uint8)
    summary = summarise([judge_image(blank, one), judge_image(blank, two)], "t")
    assert summary["t_chance"] == np.mean([1 / 6, 1 / 4, 1 / 5, 1 / 3])
    assert np.isclose(summary["t_exact_chance"], (1 / 360 + 1 / 360 ** 2) / 2)
    assert summary["t_accuracy"] == 0.0 and summary["t_all_correct"] == 0.0


def test_wrong_images_score_low():
    scene = Scene((SceneObject("circle", "red", 2, "left"),))
    blank = np.full((64, 64, 3), 255, dtype=np.uint8)
    assert judge_image(blank, scene)[0].mean == 0.0
    from dataengine.sampleweb.scenes import render_scene

    other = np.asarray(render_scene(Scene((SceneObject("square", "red", 3, "right"),))))
    score = judge_image(other, scene)[0]
    assert score.colour == 1.0 and score.count == 0.0 and score.position == 0.0 and score.shape == 0.0


def test_captions_are_parsed_and_scored():
    scene = Scene((SceneObject("triangle", "blue", 3, "top"), SceneObject("circle", "orange", 1, "center")))
    assert all(s.all for s in judge_caption(scene.caption(), scene))
    wrong = judge_caption("Two blue triangles at the top and one green circle in the centre.", scene)
    assert wrong[0].count == 0.0 and wrong[0].shape == 1.0
    assert wrong[1].colour == 0.0 and wrong[1].mean == 0.75
    assert parse_caption("Four yellow squares on the right.") == [
        {"colour": "yellow", "count": 4, "position": "right", "shape": "square"}]
    assert judge_caption("", scene)[0].mean == 0.0
