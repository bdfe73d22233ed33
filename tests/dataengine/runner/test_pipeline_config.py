"""Pipeline YAML: every mistake is caught before work starts, naming the key."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest
import yaml
from fault_server import FaultServer
from repo_paths import REPO

from dataengine.images.fetch import ImageFetcher
from dataengine.registry import SOURCES, STAGES, NoParams, resolve
from dataengine.runner.config import ConfigError, StageConfig, apply_overrides, load_pipeline, parse_pipeline
from dataengine.sources.warc import WarcSource

BASE = {"name": "t", "source": {"kind": "warc", "paths": ["x.warc.gz"]},
        "stages": [{"name": "extract_html"}, {"name": "fetch_images", "params": {"timeout": 3}}]}


def test_shipped_pipelines_parse():
    for path in sorted((REPO / "pipelines").glob("*.yaml")):
        config = load_pipeline(path)
        assert config.stages, path


@pytest.mark.parametrize("raw, message", [
    ({**BASE, "stages": [{"name": "extract_htm"}]},
     "stages[0].name: unknown stage 'extract_htm' (did you mean 'extract_html'?)"),
    ({**BASE, "stages": [{"name": "fetch_images", "params": {"timeout_s": 3}}]},
     "stages[0] (fetch_images): unknown parameter 'timeout_s'"),
    ({**BASE, "stages": [{"name": "fetch_images", "resources": {"gpus": 1}}]}, "stages[0] (fetch_images).resources"),
    ({**BASE, "stages": [{"name": "fetch_images", "param": {}}]}, "unknown key 'param'"),
    ({**BASE, "source": {"kind": "ftp"}}, "source.kind: unknown source 'ftp'"),
    ({**BASE, "source": {"kind": "warc", "path": "x"}}, "source (warc): unknown parameter 'path'"),
    ({**BASE, "sinks": {}}, "unknown top-level key 'sinks'"),
    ({**BASE, "sink": {"max_count": 3}}, "sink:"),
    ({**BASE, "sink": {"maxcount": "many"}}, "sink.maxcount: expected an integer, got 'many'"),
    ({**BASE, "stages": [{"name": "fetch_images", "params": {"timeout": "slow"}}]},
     "stages[0] (fetch_images).timeout: expected a number, got 'slow'"),
    ({**BASE, "stages": [{"name": "fetch_images", "params": {"threads": 0}}]},
     "stages[0] (fetch_images): threads must be at least 1, got 0"),
    ({**BASE, "stages": [{"name": "caption"}]}, "stages[0] (caption): missing parameter 'model'"),
    ({**BASE, "source": {"kind": "crawl", "state_dir": "s", "seeds": ["http://a/"], "scope": {"dpth": 1}}},
     "source (crawl).scope: unknown key 'dpth' (did you mean 'max_depth'?); known: same_site, allow, deny"),
    ({**BASE, "source": {"kind": "urls", "paths": "x.csv", "rows_per_partition": 0}},
     "source (urls): rows_per_partition must be at least 1"),
])
def test_mistakes_name_the_key(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_pipeline(raw)
    assert message in str(err.value)


def test_every_registered_stage_and_source_takes_the_fields_of_its_config():
    # One way: a Config dataclass next to the class, its fields the only parameters (no __init__ of its own
    # lists or defaults them), so the loader checks YAML params and Python arguments alike.
    for table, what in ((STAGES, "stage"), (SOURCES, "source")):
        for name in table:
            cls = resolve(table, name, what)
            assert dataclasses.is_dataclass(cls.Config) and cls.Config is not NoParams, name
            kinds = [p.kind for p in inspect.signature(cls.__init__).parameters.values()][1:]
            assert kinds == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD], name
    stage = StageConfig("fetch_images", {"timeout": 3, "allow_private": ["127.0.0.0/8"]}).build()
    assert stage.config.timeout == 3.0 and isinstance(stage.config.timeout, float)  # converted, as from YAML
    assert stage.http.config.read_timeout == 3.0 and stage.processor.config.image_size == 1024
    with pytest.raises(ConfigError, match=r"^fetch_images\.timeout: expected a number, got 'x'$"):
        ImageFetcher(timeout="x")  # from Python, the same check and message (the stage's name first)
    with pytest.raises(ConfigError,
                       match=r"^warc source: unknown parameter 'path' \(did you mean 'paths'\?\); known: paths, "):
        WarcSource(path="x")


def test_overrides_address_stages_by_name():
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    apply_overrides(raw, ["stages.fetch_images.timeout=7", "source.paths=[a, b]", "sink.maxcount=5",
                          "stages.fetch_images.resources.concurrency=2"])
    config = parse_pipeline(raw)
    assert config.stages[1].params == {"timeout": 7}
    assert config.stages[1].resources.concurrency == 2
    assert config.source.params["paths"] == ["a", "b"]
    assert config.sink.maxcount == 5
    with pytest.raises(ConfigError, match="no such stage: unknown stage 'nope'; known: extract_html, fetch_images"):
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
    assert "unknown parameter 'timout' (did you mean 'timeout'?)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # nothing started


def test_cli_input_that_matches_nothing_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dataengine", "run", str(REPO / "pipelines" / "warc.yaml"),
                           "--output", str(tmp_path / "out"), "--set", f"source.paths=[{tmp_path}/none-*.warc.gz]"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "matches no file" in proc.stderr or "no file" in proc.stderr
    assert "Traceback" not in proc.stderr


def _allow_private_values(raw: dict) -> list:
    """Every ``allow_private`` of a pipeline: the source's and each stage's."""
    values = [raw["source"]["allow_private"]] if "allow_private" in raw["source"] else []
    return values + [s["params"]["allow_private"] for s in raw["stages"] if "allow_private" in s.get("params", {})]


def test_no_shipped_pipeline_allows_every_private_address():
    # `true` lets a page's redirect reach the cloud metadata service or the LAN; a pipeline
    # for a loopback server names loopback and nothing else.
    for path in sorted((REPO / "pipelines").glob("*.yaml")):
        for value in _allow_private_values(yaml.safe_load(path.read_text())):
            assert value is not True and value != "true", path


@pytest.mark.parametrize("pipeline", ["demo.yaml", "sampleweb_filtered.yaml"])
def test_sample_web_pipelines_do_not_follow_redirects_off_loopback(pipeline):
    with FaultServer() as server:
        pages = ["/redirect/metadata", "/redirect/private"]  # to 169.254.169.254 and 10.0.0.1
        locs = "".join(f"<url><loc>{server(p)}</loc></url>" for p in pages)
        sitemap = server.add("/sitemap.xml", '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
                             f'schemas/sitemap/0.9">{locs}</urlset>', "application/xml")
        source = load_pipeline(REPO / "pipelines" / pipeline, [f"source.url={sitemap}"]).source.build()
        rows = [item for partition in source.partitions() for item in source.read(partition)]
    assert sorted((r.url, r.reason) for r in rows) == [(server(p), "refused_address") for p in pages]
