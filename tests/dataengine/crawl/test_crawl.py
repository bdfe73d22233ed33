"""The crawler end to end on Ray: the sample web (robots, scope, budget, sitemap, kill and resume
through ``dataengine run pipelines/web.yaml``), politeness and faults seen from the server side."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from fault_server import FaultServer
from repo_paths import REPO

from dataengine.catalog.catalog import Catalog
from dataengine.catalog.validate import validate_corpus
from dataengine.crawl.source import CrawlSource
from dataengine.runner.config import load_pipeline, parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.sampleweb import SampleWebConfig, SampleWebServer, generate_site
from dataengine.shards import iter_corpus

WEB = REPO / "pipelines" / "web.yaml"
LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    generate_site(root, SampleWebConfig(pages=30, seed=1))
    with SampleWebServer(root) as server:
        yield root, server


def outcomes(state: Path) -> list[dict]:
    """Every fetch-log line of a crawl state, all batches."""
    lines = []
    for log in sorted((state / "warc").glob("*.log.jsonl")):
        lines += [json.loads(line) for line in log.read_text().splitlines()]
    return lines


def ground_truth_pages(root: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (root / "ground_truth.jsonl").read_text().splitlines()]
    return {r["path"]: r["label"] for r in rows if r["kind"] == "page"}


@pytest.mark.slow
def test_kill_resume_and_pipeline(ray_session, site, tmp_path):
    root, server = site
    state, corpus = tmp_path / "state", tmp_path / "corpus"
    sets = [f"source.seeds=[{server.url}]", f"source.state_dir={state}", f"source.allow_private={LOOPBACK}",
            "source.politeness.delay=0.1"]
    address = ray_session.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "dataengine", "run", str(WEB), "--output", str(corpus), "--address", address]
    for item in sets:
        cmd += ["--set", item]
    env = {**os.environ, "RAY_ADDRESS": address, "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}
    driver = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while driver.poll() is None and time.monotonic() < deadline and (
            not (state / "warc").is_dir() or len(outcomes(state)) < 6):
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    at_kill = len(outcomes(state))
    assert 6 <= at_kill < 25, driver.stderr.read().decode()[-2000:]

    config = load_pipeline(WEB, [*sets[:-1], "source.politeness.delay=0"])
    raw = copy.deepcopy(config.raw)  # image fetching has tests of its own; here it would only add minutes
    raw["stages"] = [s for s in raw["stages"] if s["name"] != "fetch_images"]
    config = parse_pipeline(raw)
    result = run_pipeline(config, str(corpus))

    lines = outcomes(state)
    urls = [o["url"] for o in lines]
    assert len(urls) == len(set(urls)), "a URL was fetched twice across the kill"
    admitted = [json.loads(line)["url"] for line in (state / "frontier.jsonl").read_text().splitlines()]
    assert sorted(admitted) == sorted(urls)  # every admitted URL has exactly one outcome
    pages = {o["url"].removeprefix(server.url.rstrip("/")) for o in lines if o["kind"] == "page"}
    truth = ground_truth_pages(root)
    assert {p for p, label in truth.items() if label == "content"} <= pages
    assert not any(p.startswith("/private/") for p in pages)  # robots.txt obeyed
    rejected = {o["url"].removeprefix(server.url.rstrip("/")): o["reason"] for o in lines if o["kind"] == "rejected"}
    assert rejected == {p: "robots_disallowed" for p, label in truth.items() if label == "disallowed"}

    assert validate_corpus(str(corpus)) == []
    assert result.partitions_done == result.partitions_total >= 1
    assert ("source:crawl", "document", "robots_disallowed") in result.rejected
    docs = list(iter_corpus(str(corpus)))
    assert docs and {d.source.kind for d in docs} == {"crawl"}
    assert any(img.status == "pending" for d in docs for img in d.images)
    with Catalog(str(corpus)) as cat:
        rows = cat.arrow("select reason, count(*) n from rejected where stage = 'source:crawl' group by 1").to_pylist()
        assert {r["reason"]: r["n"] for r in rows} == {"robots_disallowed": len(rejected)}

    again = run_pipeline(config, str(corpus))  # the crawl is done: nothing is fetched, nothing rewritten
    assert again.partitions_done == 0 and len(outcomes(state)) == len(lines)


def test_scope_depth_budget_and_resume_with_a_larger_budget(ray_session, site, tmp_path):
    root, server = site
    state = tmp_path / "state"

    def crawl(max_pages: int) -> list[dict]:
        CrawlSource(str(state), seeds=[server.url], allow_private=LOOPBACK, politeness={"delay": 0},
                    scope={"max_depth": 1, "deny": ["/deals/"], "max_pages": max_pages}).partitions()
        return outcomes(state)

    first = crawl(8)
    assert len(first) == 8
    lines = crawl(20)
    urls = [o["url"] for o in lines]
    assert len(lines) == 20 and len(set(urls)) == 20 and urls[:8] == [o["url"] for o in first]
    assert all(o["depth"] <= 1 and "/deals/" not in o["url"] and o["url"].startswith(server.url) for o in lines)
    assert lines[0]["url"] == server.url and lines[0]["depth"] == 0


def test_sitemap_seeds_the_frontier(ray_session, site, tmp_path):
    root, server = site
    source = CrawlSource(str(tmp_path / "state"), sitemap=server.url + "sitemap.xml", allow_private=LOOPBACK,
                         politeness={"delay": 0}, scope={"max_depth": 0}, pages_per_warc=10)
    partitions = source.partitions()
    truth = ground_truth_pages(root)
    lines = outcomes(tmp_path / "state")
    assert sorted(o["url"].removeprefix(server.url.rstrip("/")) for o in lines) == sorted(truth)
    assert len(partitions) == 3  # 29 allowed pages, 10 per WARC batch
    items = [item for p in partitions for item in source.read(p)]
    docs = [i for i in items if hasattr(i, "source")]
    assert len(docs) == len(truth) - 1 and len({d.id for d in docs}) == len(docs)
    assert [i.reason for i in items if not hasattr(i, "source")] == ["robots_disallowed"]


def test_politeness_seen_by_the_server(ray_session, tmp_path):
    with FaultServer() as server:
        server.add("/robots.txt", "User-agent: *\nDisallow: /private/\nCrawl-delay: 0.3\n", "text/plain")
        for i in range(6):
            links = "".join(f'<a href="/p{j}.html">p{j}</a>' for j in range(6)) + '<a href="/private/x.html">x</a>'
            server.add(f"/p{i}.html", f"<html><body><p>page {i}</p>{links}</body></html>")
        CrawlSource(str(tmp_path / "state"), seeds=[server("/p0.html")], allow_private=LOOPBACK,
                    politeness={"delay": 0, "user_agent": "dataengine-test/1.0"}).partitions()
        seen = server.requests
    paths = [r.path for r in seen]
    assert paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1
    assert sorted(paths[1:]) == [f"/p{i}.html" for i in range(6)]  # each page once, /private/ never
    assert {r.user_agent for r in seen} == {"dataengine-test/1.0"}
    gaps = [b.time - a.time for a, b in zip(seen, seen[1:])]
    assert min(gaps) >= 0.25, gaps  # Crawl-delay: 0.3, with a margin for the clock
    assert server.max_in_flight == 1


def test_faults_end_as_rejections_with_distinct_reasons(ray_session, tmp_path):
    with FaultServer(stall_seconds=5) as server:
        server.add("/big.html", "<html><body>" + "x" * 300_000 + "</body></html>")
        faults = {
            "/status/404": "http_404", "/status/410": "http_410", "/status/500": "http_500",
            "/status/429": "http_429", "/status/503": "http_503", "/fault/reset": "connection_error",
            "/fault/stall": "read_timeout", "/redirect/loop-b": "redirect_loop",
            "/redirect/ftp": "redirect_refused_scheme",
            "/redirect/file": "redirect_refused_scheme", "/redirect/private": "redirect_out_of_scope",
            "/redirect/chain/2": "too_many_redirects", "/ok/astronaut.jpg": "unwanted_content_type",
            "/flaky/page": "unwanted_content_type", "/big.html": "body_too_large",
            "/private/photo.jpg": "robots_disallowed",
        }
        reached = {"/redirect/loop-b": "/redirect/loop-a", "/redirect/chain/2": "/redirect/chain/7"}  # by redirects
        seeds = [server(reached.get(p, p)) for p in faults]
        source = CrawlSource(str(tmp_path / "state"), seeds=seeds, allow_private=LOOPBACK, politeness={"delay": 0},
                             fetch={"read_timeout": 0.5, "retries": 1, "backoff": 0.05, "max_body_bytes": 200_000})
        partitions = source.partitions()
        seen = server.requests
    rejected = {r.url.removeprefix(server.url.rstrip("/")): r.reason
                for p in partitions for r in source.read(p) if not hasattr(r, "source")}
    assert rejected == faults
    redirects = [o for o in outcomes(tmp_path / "state") if o["kind"] == "redirect"]
    assert len(redirects) == 6  # loop-a, and chain/7 .. chain/3: each hop once

    def times(path: str) -> list[float]:
        return [r.time for r in seen if r.path == path]

    for path in ("/status/429", "/status/503", "/flaky/page"):  # all say Retry-After: 1
        first, second = times(path)
        assert second - first >= 0.9, path
    assert len(times("/status/500")) == 2 and len(times("/status/404")) == 1  # 5xx retried, 4xx not
    assert Counter(r.path for r in seen)["/robots.txt"] == 1
