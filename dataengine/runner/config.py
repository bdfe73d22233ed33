"""Pipeline configuration: a YAML file naming a source, a list of stages and a sink.

Example::

    name: warc
    source:
      kind: warc
      paths: ["data/*.warc.gz"]
    stages:
      - name: extract_html
      - name: fetch_images
        params: {timeout: 5}
        resources: {concurrency: 4}
    sink:
      maxcount: 1000

Everything is checked before any work starts, by the config loader every config shares
(``schemas.config``): unknown sections, unknown source kinds or stage names, and parameters
that are not fields of the class's ``Config`` (or values of the wrong type) all fail with
the offending key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataengine.errors import ConfigError
from dataengine.registry import SOURCES, STAGES, resolve
from schemas.config import from_mapping, parse_overrides, read_yaml, set_key, unknown


@dataclass
class Resources:
    """How Ray runs a stage: a task per partition (default) or an actor pool of ``concurrency``.

    ``threads`` sets the intra-op threads of an actor's model (torch); by default the CPUs it
    reserves (``num_cpus``, else one: Ray starts workers with one thread). A model stage that runs
    alone on a small machine (the alignment loop's) may use every core without reserving them,
    which would leave no CPU for the stages around it.
    """

    concurrency: int | None = None
    num_cpus: float | None = None
    num_gpus: float | None = None
    threads: int | None = None


@dataclass
class StageConfig:
    """One stage: its registered name, constructor parameters and Ray resources."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)

    def build(self) -> Any:
        """Instantiate the stage."""
        return resolve(STAGES, self.name, "stage")(**self.params)


@dataclass
class SourceConfig:
    """The source: its registered kind and constructor parameters."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """Instantiate the source."""
        return resolve(SOURCES, self.kind, "source")(**self.params)


@dataclass
class SinkConfig:
    """Shard limits of the output, and how to reach it.

    ``storage_options`` are fsspec's options for a remote output (``s3://``: ``key``, ``secret``,
    ``client_kwargs: {endpoint_url: ...}``), as sources take them; without them the output is
    reached as the environment says (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...).
    """

    maxcount: int = 1000
    maxsize: int = 256 * 1024 * 1024
    storage_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineConfig:
    """A whole pipeline as loaded from YAML (after ``--set`` overrides)."""

    name: str
    source: SourceConfig
    stages: list[StageConfig]
    sink: SinkConfig
    raw: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The effective configuration, as recorded in the run record."""
        return self.raw

    def fingerprint(self) -> str:
        """What makes a corpus this pipeline's (see ``pipeline_fingerprint``)."""
        return pipeline_fingerprint(self.raw)


def pipeline_fingerprint(raw: dict[str, Any]) -> str:
    """A digest of what a pipeline does to its input: its name, source kind, stages and shard limits.

    Where the input comes from (paths, URLs, credentials) is left out: more input run through
    the same pipeline adds partitions to the same corpus, while another pipeline's documents
    in it would mix two corpora.
    """
    sink = {k: v for k, v in (raw.get("sink") or {}).items() if k != "storage_options"}
    what = {"name": raw.get("name"), "source": (raw.get("source") or {}).get("kind"),
            "stages": raw.get("stages"), "sink": sink}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class PipelineFile:
    """The top level of a pipeline YAML as written (``source`` and ``stages`` are checked against the registry)."""

    name: str | None = None
    description: str | None = None
    source: dict[str, Any] | None = None
    stages: list[Any] | None = None
    sink: SinkConfig = field(default_factory=SinkConfig)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> None:
    """Apply ``key=value`` overrides in place; keys are dotted paths, values parsed as YAML.

    Stages are addressed by name: ``stages.fetch_images.timeout=3`` sets that stage's
    parameter; ``source.url=...`` sets a source parameter; ``sink.maxcount=10`` the sink.
    """
    for key, value in parse_overrides(overrides).items():
        path = key.split(".")
        if path[0] == "stages" and len(path) >= 3:
            matches = [s for s in raw.get("stages") or [] if isinstance(s, dict) and s.get("name") == path[1]]
            if not matches:
                names = [s["name"] for s in raw.get("stages") or [] if isinstance(s, dict) and "name" in s]
                raise ConfigError(f"--set {key}: the pipeline has no such stage: {unknown('stage', path[1], names)}")
            section = "resources" if path[2] == "resources" else "params"
            rest = path[3:] if section == "resources" else path[2:]
            if not rest:
                raise ConfigError(f"--set {key}: missing a parameter name")
            for stage in matches:
                set_key(stage, ".".join([section, *rest]), value)
        elif path == ["name"]:
            raw["name"] = value
        elif path[0] in ("source", "sink") and len(path) >= 2:
            set_key(raw, key, value)
        else:
            raise ConfigError(f"--set {key}: must start with source., stages.NAME., sink. or be name")


def _parse_source(raw: dict[str, Any] | None) -> SourceConfig:
    """The ``source:`` section: a registered ``kind`` and the parameters of that source's ``Config``."""
    params = dict(raw or {})
    if "kind" not in params:
        raise ConfigError("source.kind is required")
    kind = params.pop("kind")
    if kind not in SOURCES:
        raise ConfigError(f"source.kind: {unknown('source', kind, sorted(SOURCES))}")
    resolve(SOURCES, kind, "source").parse_params(params, f"source ({kind})")
    return SourceConfig(kind, params)


def _parse_stage(position: int, raw: Any) -> StageConfig:
    """One entry of ``stages:``: a registered ``name``, the ``params`` of that stage's ``Config``, ``resources``."""
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"stages[{position}]: each stage needs a name")
    name = raw["name"]
    if name not in STAGES:
        raise ConfigError(f"stages[{position}].name: {unknown('stage', name, sorted(STAGES))}")
    where = f"stages[{position}] ({name})"
    stage = from_mapping(StageConfig, {**raw, "params": raw.get("params") or {}}, where)
    resolve(STAGES, name, "stage").parse_params(stage.params, where)
    return stage


def parse_pipeline(raw: dict[str, Any]) -> PipelineConfig:
    """Check a loaded pipeline dict and turn it into a ``PipelineConfig``."""
    if not isinstance(raw, dict):
        raise ConfigError("pipeline must be a YAML mapping")
    top = from_mapping(PipelineFile, raw, noun="top-level key")
    stages = [_parse_stage(i, st) for i, st in enumerate(top.stages or [])]
    return PipelineConfig(top.name or "pipeline", _parse_source(top.source), stages, top.sink, raw)


def load_pipeline(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Read a pipeline YAML, apply ``--set`` overrides and check it."""
    raw = read_yaml(path, "pipeline") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: pipeline must be a YAML mapping")
    apply_overrides(raw, overrides or [])
    return parse_pipeline(raw)
