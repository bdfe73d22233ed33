"""The filter rules from a pipeline YAML on the real WARC fixtures (issue 4: rules run on the WARCs)."""

from __future__ import annotations

from collections import Counter

from repo_paths import REPO

from dataengine.catalog.catalog import Catalog
from dataengine.catalog.validate import validate_corpus
from dataengine.filters.image_rules import ImageRules
from dataengine.runner.config import load_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards import iter_corpus


def test_filters_from_yaml_on_warc_fixtures(ray_session, fixtures, tmp_path):
    config = load_pipeline(REPO / "pipelines" / "warc_filtered.yaml",
                           [f"source.paths=[{fixtures}/warc/*.warc.gz]"])
    # fetching would leave loopback: the WARCs' images live on the public web
    config.stages = [s for s in config.stages if s.name != "fetch_images"]
    result = run_pipeline(config, str(tmp_path / "corpus"))
    by_stage = Counter()
    for (stage, _, _), n in result.rejected.items():
        by_stage[stage] += n
    # Chinese, Russian and Japanese pages go to language_id; boilerplate lines to text_quality; tracking
    # pixels out at extraction (which keeps the article's figures only, so logos and icons never reach
    # a document), and whatever a URL rule would name is gone from the corpus
    assert by_stage["language_id"] >= 20 and by_stage["text_quality"] > 0, by_stage
    assert result.rejected[("extract_html", "image", "tracking_pixel")] > 0, result.rejected
    assert result.documents > 5
    assert validate_corpus(str(tmp_path / "corpus")) == []
    rules = ImageRules()
    kept = [im.url for doc in iter_corpus(str(tmp_path / "corpus")) for im in doc.images]
    assert kept and not [url for url in kept if rules.url_match(url)]
    with Catalog(str(tmp_path / "corpus")) as cat:
        langs = {r["language"] for r in cat.arrow("select distinct language from docs").to_pylist()}
        assert langs <= {"en", "de", "fr"}
        scores = cat.arrow("select count(*) n from docs where scores['stopword_ratio'] is not null").to_pylist()
        assert scores[0]["n"] == result.documents
