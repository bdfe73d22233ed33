"""Pipeline YAML: every mistake is caught before work starts, naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dataengine.runner.config import ConfigError, apply_overrides, load_pipeline, parse_pipeline

REPO = Path(__file__).resolve().parents[2]
BASE = {"name": "t", "source": {"kind": "warc", "paths": ["x.warc.gz"]},
        "stages": [{"name": "extract_html"}, {"name": "fetch_images", "params": {"timeout": 3}}]}


def test_shipped_pipelines_parse():
    for path in sorted((REPO / "pipelines").glob("*.yaml")):
        config = load_pipeline(path)
        assert config.stages, path


@pytest.mark.parametrize("raw, message", [
    ({**BASE, "stages": [{"name": "extract_htm"}]}, "stages[0].name: unknown stage 'extract_htm'"),
    ({**BASE, "stages": [{"name": "fetch_images", "params": {"timeout_s": 3}}]},
     "stages[0] (fetch_images): unknown parameter 'timeout_s'"),
    ({**BASE, "stages": [{"name": "fetch_images", "resources": {"gpus": 1}}]}, "stages[0] (fetch_images).resources"),
    ({**BASE, "stages": [{"name": "fetch_images", "param": {}}]}, "unknown key 'param'"),
    ({**BASE, "source": {"kind": "ftp"}}, "source.kind: unknown source 'ftp'"),
    ({**BASE, "source": {"kind": "warc", "path": "x"}}, "source (warc): unknown parameter 'path'"),
    ({**BASE, "sinks": {}}, "unknown top-level key 'sinks'"),
    ({**BASE, "sink": {"max_count": 3}}, "sink:"),
])
def test_mistakes_name_the_key(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_pipeline(raw)
    assert message in str(err.value)


def test_overrides_address_stages_by_name():
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    apply_overrides(raw, ["stages.fetch_images.timeout=7", "source.paths=[a, b]", "sink.maxcount=5",
                          "stages.fetch_images.resources.concurrency=2"])
    config = parse_pipeline(raw)
    assert config.stages[1].params == {"timeout": 7}
    assert config.stages[1].resources.concurrency == 2
    assert config.source.params["paths"] == ["a", "b"]
    assert config.sink.maxcount == 5
    with pytest.raises(ConfigError, match="no stage named 'nope'"):
        apply_overrides(raw, ["stages.nope.x=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(raw, ["sink.maxcount"])


def test_cli_fails_before_work_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "stages": [{"name": "fetch_images", "params": {"timout": 1}}]}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "dataengine", "run", str(bad), "--output", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "unknown parameter 'timout'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # nothing started


def test_cli_input_that_matches_nothing_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dataengine", "run", str(REPO / "pipelines" / "warc.yaml"),
                           "--output", str(tmp_path / "out"), "--set", f"source.paths=[{tmp_path}/none-*.warc.gz]"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "matches no file" in proc.stderr or "no file" in proc.stderr
    assert "Traceback" not in proc.stderr
