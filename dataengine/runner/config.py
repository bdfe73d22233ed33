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

Everything is checked before any work starts: unknown sections, unknown source kinds or
stage names, and parameters the class does not take all fail with the offending key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dataengine.errors import ConfigError
from dataengine.registry import SOURCES, STAGES, resolve


@dataclass
class Resources:
    """How Ray runs a stage: a task per partition (default) or an actor pool of ``concurrency``."""

    concurrency: int | None = None
    num_cpus: float | None = None
    num_gpus: float | None = None


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
    """Shard limits of the output."""

    maxcount: int = 1000
    maxsize: int = 256 * 1024 * 1024


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


_TOP_KEYS = {"name", "description", "source", "stages", "sink"}
_STAGE_KEYS = {"name", "params", "resources"}


def _check_params(cls: type, params: dict[str, Any], where: str) -> None:
    sig = inspect.signature(cls.__init__)
    accepted = [p for p in sig.parameters if p != "self"]
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    for key in params:
        if key not in accepted:
            raise ConfigError(f"{where}: unknown parameter {key!r}; {cls.__name__} takes: "
                              f"{', '.join(accepted) or 'no parameters'}")
    try:
        sig.bind(None, **params)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> None:
    """Apply ``key=value`` overrides in place; keys are dotted paths, values parsed as YAML.

    Stages are addressed by name: ``stages.fetch_images.timeout=3`` sets that stage's
    parameter; ``source.url=...`` sets a source parameter; ``sink.maxcount=10`` the sink.
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        value = yaml.safe_load(text) if text else ""
        path = key.split(".")
        if path[0] == "stages" and len(path) >= 3:
            matches = [s for s in raw.get("stages") or [] if s.get("name") == path[1]]
            if not matches:
                raise ConfigError(f"--set {key}: no stage named {path[1]!r} in the pipeline")
            for stage in matches:
                target = stage.setdefault("resources" if path[2] == "resources" else "params", {})
                rest = path[3:] if path[2] == "resources" else path[2:]
                _set_path(target, rest, value, key)
        elif path[0] in ("source", "sink", "name"):
            if path[0] == "name":
                raw["name"] = value
            else:
                _set_path(raw.setdefault(path[0], {}), path[1:], value, key)
        else:
            raise ConfigError(f"--set {key}: must start with source., stages.NAME., sink. or name")


def _set_path(target: dict[str, Any], path: list[str], value: Any, key: str) -> None:
    if not path:
        raise ConfigError(f"--set {key}: missing a parameter name")
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def parse_pipeline(raw: dict[str, Any]) -> PipelineConfig:
    """Check a loaded pipeline dict and turn it into a ``PipelineConfig``."""
    if not isinstance(raw, dict):
        raise ConfigError("pipeline must be a YAML mapping")
    for key in raw:
        if key not in _TOP_KEYS:
            raise ConfigError(f"unknown top-level key {key!r}; expected: {', '.join(sorted(_TOP_KEYS))}")
    src = dict(raw.get("source") or {})
    if "kind" not in src:
        raise ConfigError("source.kind is required")
    kind = src.pop("kind")
    if kind not in SOURCES:
        raise ConfigError(f"source.kind: unknown source {kind!r}; known: {', '.join(sorted(SOURCES))}")
    _check_params(resolve(SOURCES, kind, "source"), src, f"source ({kind})")
    stages = []
    for i, st in enumerate(raw.get("stages") or []):
        if not isinstance(st, dict) or "name" not in st:
            raise ConfigError(f"stages[{i}]: each stage needs a name")
        for key in st:
            if key not in _STAGE_KEYS:
                raise ConfigError(f"stages[{i}] ({st['name']}): unknown key {key!r}; expected: name, params, resources")
        if st["name"] not in STAGES:
            raise ConfigError(f"stages[{i}].name: unknown stage {st['name']!r}; known: {', '.join(sorted(STAGES))}")
        params = dict(st.get("params") or {})
        _check_params(resolve(STAGES, st["name"], "stage"), params, f"stages[{i}] ({st['name']})")
        try:
            resources = Resources(**(st.get("resources") or {}))
        except TypeError as exc:
            raise ConfigError(f"stages[{i}] ({st['name']}).resources: {exc}") from None
        stages.append(StageConfig(st["name"], params, resources))
    try:
        sink = SinkConfig(**(raw.get("sink") or {}))
    except TypeError as exc:
        raise ConfigError(f"sink: {exc}") from None
    return PipelineConfig(raw.get("name") or "pipeline", SourceConfig(kind, src), stages, sink, raw)


def load_pipeline(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Read a pipeline YAML, apply ``--set`` overrides and check it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pipeline file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    apply_overrides(raw, overrides or [])
    return parse_pipeline(raw)
