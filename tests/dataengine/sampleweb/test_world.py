"""The scene world: corpora of any size whose held-out compositions never appear in training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataengine.cli import main
from dataengine.sampleweb.world import WorldConfig, write_world
from dataengine.shards import iter_corpus
from schemas.scene_split import CompositionSplit, composition, load_split, pairing
from schemas.scenes import Scene


def scenes_of(corpus: Path) -> list[Scene]:
    """The scenes of a world corpus's ground truth, in document order."""
    rows = [json.loads(line) for line in (corpus / "ground_truth.jsonl").read_text().splitlines()]
    return [Scene.from_json(r["scene"]) for r in rows]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    assert write_world(out, WorldConfig(pairs=400, interleaved=60, shard_size=150)) == {
        "pairs": 400, "interleaved": 60, "heldout": 64}
    return out


def test_training_never_uses_a_held_out_composition_or_pairing(world):
    split = load_split(world / "split.json")
    assert len(split.compositions) == 48 and len(split.pairings) == 16
    train = scenes_of(world / "pairs") + scenes_of(world / "interleaved")
    assert len(train) > 400 + 2 * 60
    assert not any(split.is_held_out(s) for s in train)
    held = scenes_of(world / "heldout")
    assert all(split.is_held_out(s) for s in held)
    # Every held-out composition and pairing is scored once, and they are new combinations of known words.
    assert {composition(s.objects[0]) for s in held if len(s.objects) == 1} == split.compositions
    assert {pairing(s) for s in held if len(s.objects) == 2} == split.pairings
    seen = {(attr, getattr(o, attr)) for s in train for o in s.objects for attr in ("shape", "colour", "count",
                                                                                    "position")}
    assert {(attr, getattr(o, attr)) for s in held for o in s.objects
            for attr in ("shape", "colour", "count", "position")} <= seen


def test_documents_are_pairs_and_interleaved_scenes_with_their_words(world):
    pairs = list(iter_corpus(str(world / "pairs")))
    assert len(pairs) == 400 and all(len(d.images) == 1 and d.images[0].status == "ok" for d in pairs)
    first = scenes_of(world / "pairs")[0]
    assert pairs[0].segments[0].text == first.caption()
    docs = list(iter_corpus(str(world / "interleaved")))
    assert all(2 <= len(d.images) <= 4 for d in docs)
    scenes = iter(scenes_of(world / "interleaved"))
    for doc in docs[:10]:
        text = " ".join(s.text for s in doc.segments if s.kind == "text").lower()
        for _ in doc.images:
            assert " and ".join(o.phrase() for o in next(scenes).objects) in text


def test_the_same_config_writes_the_same_world(world, tmp_path):
    write_world(tmp_path, WorldConfig(pairs=400, interleaved=60, shard_size=150))
    for name in ("split.json", "pairs/ground_truth.jsonl", "interleaved/ground_truth.jsonl",
                 "heldout/ground_truth.jsonl"):
        assert (tmp_path / name).read_bytes() == (world / name).read_bytes(), name
    ids = [d.id for d in iter_corpus(str(world / "pairs"))]
    assert [d.id for d in iter_corpus(str(tmp_path / "pairs"))] == ids


def test_split_round_trips_and_a_bad_one_names_the_file(tmp_path):
    split = CompositionSplit.draw(seed=3)
    split.save(tmp_path)
    assert load_split(tmp_path / "split.json") == split
    assert CompositionSplit.draw(seed=4) != split
    (tmp_path / "split.json").write_text(json.dumps({"compositions": [["hexagon", "red", 1, "left"]],
                                                     "pairings": []}))
    with pytest.raises(ValueError, match="split.json.*hexagon"):
        load_split(tmp_path / "split.json")


def test_cli_writes_a_world_and_refuses_to_write_over_one(tmp_path, capsys):
    assert main(["sample-web", "world", str(tmp_path / "w"), "--pairs", "30", "--interleaved", "5"]) == 0
    assert "wrote 30 pairs, 5 interleaved documents and 64 held-out pairs" in capsys.readouterr().out
    assert main(["sample-web", "world", str(tmp_path / "w"), "--pairs", "30"]) == 2
    assert "already holds a scene world" in capsys.readouterr().err
