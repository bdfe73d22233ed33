"""The one config loader: typed dataclasses from YAML and ``--set`` overrides, errors naming the full key."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import pytest
from repo_paths import REPO

from schemas.config import (
    ConfigError,
    convert,
    expected,
    from_mapping,
    load,
    parse_overrides,
    read_yaml,
    set_key,
)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@runtime_checkable
class Scorer(Protocol):
    def score(self, x: int) -> float: ...


class Doubler:
    def score(self, x: int) -> float:
        return 2.0 * x


@dataclass
class Corpus:
    path: str
    weight: float = 1.0


@dataclass
class Model:
    dim: int = 8
    heads: int | None = None
    activation: Literal["gelu", "silu"] = "gelu"

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"dim must be at least 1, got {self.dim}")


@dataclass
class Run:
    model: Model = field(default_factory=Model)
    mixture: list[Corpus] = field(default_factory=list)
    lr: float = 1e-3
    compile: bool = False
    tags: dict[str, int] = field(default_factory=dict)
    allow: bool | str | list[str] = False
    colour: Colour = Colour.RED
    shape: tuple[int, int] = (1, 1)
    scorer: str | Scorer = "none"
    out: Path | None = None
    extra: Any = None


def test_types_are_resolved_and_converted():
    run = from_mapping(Run, {"model": {"dim": 16, "heads": None, "activation": "silu"},
                             "mixture": [{"path": "a"}, {"path": Path("/b"), "weight": 2}],
                             "lr": 1, "compile": True, "tags": {"x": 1}, "allow": ["127.0.0.0/8"],
                             "colour": "blue", "shape": [2, 3], "out": "/tmp/o", "extra": {"any": ["thing"]}})
    assert run.model == Model(16, None, "silu")
    assert run.mixture == [Corpus("a"), Corpus("/b", 2.0)] and isinstance(run.mixture[1].weight, float)
    assert run.lr == 1.0 and isinstance(run.lr, float)  # an int is taken for a float, and becomes one
    assert run.tags == {"x": 1} and run.allow == ["127.0.0.0/8"] and run.colour is Colour.BLUE
    assert run.shape == (2, 3) and run.out == Path("/tmp/o") and run.extra == {"any": ["thing"]}
    assert from_mapping(Run, None) == Run()  # nothing given: every default
    assert from_mapping(Run, {"model": None}).model == Model()  # an empty YAML section too
    assert from_mapping(Run, {"allow": True}).allow is True and from_mapping(Run, {"allow": "10.0.0.0/8"}).allow
    doubler = Doubler()
    assert from_mapping(Run, {"scorer": doubler}).scorer is doubler  # from Python: any object of the protocol
    model = Model(4)
    assert from_mapping(Run, {"model": model}).model is model  # a dataclass instance is taken as it is


@pytest.mark.parametrize("data, message", [
    ({"modle": {}}, "unknown key 'modle' (did you mean 'model'?); known: model, mixture, lr,"),
    ({"model": {"dimm": 3}}, "model: unknown key 'dimm' (did you mean 'dim'?); known: dim, heads, activation"),
    ({"model": {"dim": "big"}}, "model.dim: expected an integer, got 'big'"),
    ({"model": {"dim": 2.5}}, "model.dim: expected an integer, got 2.5"),
    ({"model": {"dim": True}}, "model.dim: expected an integer, got True"),  # a bool is not a number
    ({"model": {"heads": "x"}}, "model.heads: expected an integer, got 'x'"),
    ({"model": {"activation": "relu"}}, "model.activation: must be one of 'gelu', 'silu', got 'relu'"),
    ({"model": {"dim": 0}}, "model: dim must be at least 1, got 0"),  # what __post_init__ refuses
    ({"model": [1]}, "model: expected a mapping, got a list"),
    ({"mixture": [{"path": "a"}, {"weight": 2}]}, "mixture[1]: missing key 'path', which has no default"),
    ({"mixture": [{"path": 3}]}, "mixture[0].path: expected a string, got 3"),
    ({"mixture": "a"}, "mixture: expected a list of mappings (Corpus), got 'a'"),
    ({"lr": "fast"}, "lr: expected a number, got 'fast'"),
    ({"compile": "yes please"}, "compile: expected true or false, got 'yes please'"),
    ({"tags": {"x": "one"}}, "tags.x: expected an integer, got 'one'"),
    ({"allow": 3}, "allow: expected true or false or a string or a list of strings, got 3"),
    ({"colour": "green"}, "colour: must be one of 'red', 'blue', got 'green'"),
    ({"shape": [1]}, "shape: expected 2 items, got 1"),
    ({"scorer": 3}, "scorer: expected a string or Scorer, got 3"),
])
def test_errors_name_the_full_key_and_what_was_expected(data, message):
    with pytest.raises(ConfigError) as err:
        from_mapping(Run, data)
    assert str(err.value).startswith(message), str(err.value)


def test_where_and_noun_shape_the_messages():
    with pytest.raises(ConfigError,
                       match=r"^stages\[0\] \(fit\): unknown parameter 'dimm' \(did you mean 'dim'\?\); known: dim"):
        from_mapping(Model, {"dimm": 1}, "stages[0] (fit)", noun="parameter")
    with pytest.raises(ConfigError, match=r"^stages\[0\] \(fit\)\.dim: expected an integer"):
        from_mapping(Model, {"dim": "x"}, "stages[0] (fit)", noun="parameter")
    assert convert(list[int] | None, None, "k") is None
    assert expected(dict[str, list[int]]) == "a mapping to lists of integers"


def test_overrides_are_dotted_keys_with_yaml_values():
    overrides = parse_overrides(["model.dim=32", "mixture=[{path: a}]", "lr=", "compile=true", "tags.x=3",
                                 "out=/tmp/a=b"])
    assert overrides == {"model.dim": 32, "mixture": [{"path": "a"}], "lr": None, "compile": True,
                         "tags.x": 3, "out": "/tmp/a=b"}
    raw: dict[str, Any] = {"model": None}
    for key, value in overrides.items():
        set_key(raw, key, value)
    assert raw["model"] == {"dim": 32} and raw["tags"] == {"x": 3}
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["model.dim"])
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["=3"])
    with pytest.raises(ConfigError, match=r"--set lr: the value is not valid YAML"):
        parse_overrides(["lr=[1, 2"])
    with pytest.raises(ConfigError, match=r"--set lr.x: lr is not a mapping"):
        set_key({"lr": 1.0}, "lr.x", 3)


def test_a_number_written_with_an_exponent_is_a_number():
    # YAML 1.1 (PyYAML) reads 3e-3 as a string; a float field takes it as the number it is.
    run = load(Run, None, parse_overrides(["lr=3e-3"]))
    assert run.lr == 0.003
    with pytest.raises(ConfigError, match="lr: expected a number, got 'fast'"):
        load(Run, None, parse_overrides(["lr=fast"]))


def test_a_numbered_part_of_an_override_indexes_a_list():
    raw: dict[str, Any] = {"stages": [{"name": "a", "steps": 1}, {"name": "b", "steps": 2}]}
    set_key(raw, "stages.1.steps", 50)
    set_key(raw, "stages.0.mixture", [{"path": "x"}])
    assert raw["stages"] == [{"name": "a", "steps": 1, "mixture": [{"path": "x"}]}, {"name": "b", "steps": 50}]
    with pytest.raises(ConfigError, match=r"--set stages.2.steps: stages is a list of 2; '2' is not an index"):
        set_key(raw, "stages.2.steps", 3)
    with pytest.raises(ConfigError, match=r"--set stages.first: stages is a list of 2"):
        set_key(raw, "stages.first", 3)


def test_load_reads_a_file_with_overrides_and_names_the_file(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  dim: 4\nmixture:\n  - path: a\n")
    run = load(Run, path, parse_overrides(["model.heads=2", "lr=0.5"]))
    assert run.model == Model(4, 2) and run.mixture == [Corpus("a")] and run.lr == 0.5
    with pytest.raises(ConfigError, match=f"^{path}: model.dim: expected an integer, got 'x'$"):
        load(Run, path, {"model.dim": "x"})
    assert load(Model, None, {"dim": 3}) == Model(3)  # no file: the defaults, overridden
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  dim: 5\n")
    assert load(Model, nested, section="model") == Model(5)  # a file holding one section
    with pytest.raises(ConfigError, match="missing.yaml: run config file not found"):
        load(Run, tmp_path / "missing.yaml", what="run config")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML: .*line") as err:
        read_yaml(bad)
    assert "\n" not in str(err.value)  # one line, for the CLI
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: expected a mapping of settings, got a list"):
        load(Run, bad)


def test_yaml_is_read_safely(tmp_path: Path):
    path = tmp_path / "evil.yaml"
    path.write_text("extra: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(Run, path)


def test_the_engine_and_the_trainer_raise_this_one_error_type():
    from dataengine.dedup.config import DedupConfigError
    from dataengine.errors import ConfigError as EngineConfigError
    from dataengine.runner.config import ConfigError as PipelineConfigError
    from trainer.config import ConfigError as TrainerConfigError

    assert EngineConfigError is TrainerConfigError is DedupConfigError is PipelineConfigError is ConfigError


def test_every_shipped_dedup_and_training_config_loads():
    from dataengine.dedup.config import load_config
    from trainer.config import RunConfig, load_run_config
    from trainer.vq.train import VQTrainConfig, load_vq_train_config

    repo = REPO
    for path in sorted((repo / "pipelines" / "dedup").glob("*.yaml")):
        assert load_config(path).num_perm > 0, path
    configs = sorted((repo / "trainer" / "configs").glob("*.yaml"))
    assert len(configs) >= 5
    for path in configs:
        config = load_vq_train_config(path) if path.name.startswith("vq_") else load_run_config(path)
        assert isinstance(config, (VQTrainConfig, RunConfig)), path
