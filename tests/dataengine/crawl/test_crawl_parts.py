"""Crawler parts on real inputs, without Ray: URLs, scope, links, robots.txt, fetch limits,
address refusal, and batch recovery after a kill (real WARC files read back by WarcSource)."""

from __future__ import annotations

import json

import pytest
from fault_server import FaultServer

from dataengine.crawl.archive import Outcome, WarcBatch, read_log, recover_batch, warc_record
from dataengine.crawl.fetch import FetchConfig, Response, fetch
from dataengine.crawl.frontier import Task
from dataengine.crawl.links import extract_links, parse_html
from dataengine.crawl.politeness import HostGate, PolitenessConfig
from dataengine.crawl.robots import RobotsCache
from dataengine.crawl.scope import Scope, ScopeConfig
from dataengine.crawl.urls import canonicalize, origin
from dataengine.crawl.worker import FetchWorker, WorkerSettings
from dataengine.net.addresses import AddressPolicy, AddressRefused, parse_allow_private
from dataengine.net.pinned import PinnedPools
from dataengine.sampleweb import SampleWebConfig, generate_site
from dataengine.sources.base import Partition
from dataengine.sources.warc import WarcSource

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def server():
    with FaultServer(stall_seconds=5, drip_interval=0.1) as srv:
        yield srv


@pytest.mark.parametrize("raw, canonical", [
    ("HTTP://Example.COM:80/a/./b/../c?b=2&a=1#top", "http://example.com/a/c?a=1&b=2"),
    ("https://example.com:443", "https://example.com/"),
    ("http://example.com/%7euser/a%2fb", "http://example.com/~user/a%2Fb"),
    ("http://example.com/a b", "http://example.com/a%20b"),
    ("http://münchen.de/straße", "http://xn--mnchen-3ya.de/stra%C3%9Fe"),
    ("http://user:secret@example.com/", "http://example.com/"),
    ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ("mailto:someone@example.com", None),
    ("javascript:void(0)", None),
    ("ftp://example.com/file", None),
    ("http://example.com:99999/", None),
])
def test_canonicalize(raw, canonical):
    assert canonicalize(raw) == canonical


def test_canonicalize_resolves_relative_links():
    assert canonicalize("../x.html#f", "http://h.org/a/b/c.html") == "http://h.org/a/x.html"
    assert canonicalize("//other.org/y", "https://h.org/") == "https://other.org/y"


def test_scope_rules():
    scope = Scope(ScopeConfig(deny=[r"/deals/"], allow=[r"/(articles|index)"], max_depth=2),
                  ["http://www.site.org/"])
    assert scope.refusal("http://site.org/articles/1.html", 2) is None  # www. is the same site
    assert scope.refusal("http://other.org/articles/1.html", 0) == "offsite"
    assert scope.refusal("http://site.org/deals/x.html", 0) == "denied"
    assert scope.refusal("http://site.org/about.html", 0) == "not_allowed"
    assert scope.refusal("http://site.org/articles/2.html", 3) == "too_deep"
    with pytest.raises(ValueError, match="deny pattern"):
        ScopeConfig(deny=["(unclosed"])


def test_links_of_a_sample_web_page(tmp_path):
    generate_site(tmp_path / "site", SampleWebConfig(pages=12, seed=3))
    page = next((tmp_path / "site" / "articles").glob("*.html"))
    url = f"http://127.0.0.1:9/articles/{page.name}"
    links = extract_links(parse_html(page.read_bytes()), url, "dataengine")
    assert "http://127.0.0.1:9/index.html" in links
    assert any(link.startswith("http://127.0.0.1:9/private/") for link in links)  # robots decides, not links
    assert all(link.startswith("http://127.0.0.1:9/") and "#" not in link for link in links)
    assert url not in links and len(links) == len(set(links))


def test_links_honour_base_and_nofollow():
    html = (b'<html><head><base href="http://cdn.org/root/"></head><body><a href="a.html">a</a>'
            b'<a href="mailto:x@y.org">m</a><area href="/b.html"></body></html>')
    assert extract_links(parse_html(html), "http://site.org/p.html", "dataengine") == [
        "http://cdn.org/root/a.html", "http://cdn.org/b.html"]
    for meta in (b'<meta name="robots" content="noindex, nofollow">', b'<meta name="dataengine" content="none">'):
        assert extract_links(parse_html(meta + html), "http://site.org/p.html", "dataengine") == []
    other_bot = b'<meta name="otherbot" content="nofollow">'
    assert extract_links(parse_html(other_bot + html), "http://site.org/p.html", "dataengine")


def test_robots_cache_follows_rfc_and_fetches_once(server, tmp_path):
    pools, gate, config = PinnedPools(LOOPBACK, 1), HostGate(1, 0.0), FetchConfig(retries=0)
    server.add("/robots.txt", "User-agent: dataengine\nDisallow: /*.pdf$\nCrawl-delay: 2\n\n"
                              "User-agent: *\nDisallow: /\n", "text/plain")
    cache = RobotsCache(tmp_path / "robots", max_age=3600)
    fetched: list[str] = []

    def get(url: str) -> Response:
        fetched.append(url)
        return fetch(pools, url, gate, config)

    origin_url = origin(server.url)
    rules = cache.rules(origin_url, get)
    assert rules.allows(server("/doc.html"), "dataengine") and not rules.allows(server("/doc.pdf"), "dataengine")
    assert not rules.allows(server("/doc.html"), "otherbot")
    assert rules.delay("dataengine") == 2.0
    cache.rules(origin_url, get)
    again = RobotsCache(tmp_path / "robots", max_age=3600).rules(origin_url, get)  # a resumed crawl
    assert again.allows(server("/doc.html"), "dataengine") and fetched == [server("/robots.txt")]

    # 4xx: no rules at all; 5xx: complete disallow, and not cached
    missing = RobotsCache(tmp_path / "r404", 3600).rules("http://a", lambda u: fetch(pools, server("/status/404"),
                                                                                    gate, config))
    assert missing.allows("http://a/anything", "dataengine") and not missing.unavailable
    down = RobotsCache(tmp_path / "r500", 3600).rules("http://b", lambda u: fetch(pools, server("/status/500"),
                                                                                 gate, config))
    assert down.unavailable and not down.allows("http://b/x", "dataengine")
    assert not list((tmp_path / "r500").iterdir())


def test_fetch_limits(server):
    pools, gate = PinnedPools(LOOPBACK, 1), HostGate(1, 0.0)
    drip = fetch(pools, server("/fault/drip"), gate, FetchConfig(max_seconds=0.5, read_timeout=2, retries=0))
    assert drip.error == "too_slow"  # one byte every 0.1 s never trips the read timeout
    big = fetch(pools, server("/img/too-large-unsized.jpg"), gate, FetchConfig(max_body_bytes=50_000, retries=0))
    assert big.error == "body_too_large"
    stall = fetch(pools, server("/fault/stall"), gate, FetchConfig(read_timeout=0.3, retries=0))
    assert stall.error == "read_timeout"


def test_private_addresses_are_refused_before_any_request(server, tmp_path):
    assert parse_allow_private(["127.0.0.0/8"])[0].num_addresses == 2 ** 24
    with pytest.raises(ValueError, match="allow_private"):
        parse_allow_private(["not-a-network"])
    policy = AddressPolicy(False)
    for host, reason in [("127.0.0.1", "refused_address"), ("169.254.169.254", "refused_address"),
                         ("10.1.2.3", "refused_address"), ("no-such-host.invalid", "dns_error")]:
        with pytest.raises(AddressRefused) as refused:
            policy.resolve(host, 80)
        assert refused.value.reason == reason
    assert AddressPolicy([parse_allow_private("10.0.0.0/8")[0]]).resolve("10.1.2.3", 80) == "10.1.2.3"

    before = len(server.requests)
    for allow in (False, parse_allow_private(["10.0.0.0/8"])):
        settings = WorkerSettings(str(tmp_path / f"state-{bool(allow)}"), PolitenessConfig(delay=0), FetchConfig(),
                                  Scope(ScopeConfig(), [server.url]), allow, None, 10)
        worker = FetchWorker(settings, 0)
        [outcome] = worker.fetch(origin(server.url), [Task(server("/ok.html"))])
        worker.close()
        assert (outcome.kind, outcome.reason) == ("rejected", "refused_address")
    assert len(server.requests) == before  # not even robots.txt was asked for


def _page(url: str, text: str) -> Response:
    body = f"<html><body><p>{text}</p><a href='/next-{text}.html'>next</a></body></html>".encode()
    return Response(url, 200, "OK", [("Content-Type", "text/html; charset=utf-8")], body,
                    fetch_time="2024-05-01T10:00:00+00:00")


def test_batch_recovery_after_a_kill(tmp_path):
    batch = WarcBatch(tmp_path, "http-site-org", 0)
    for i in range(3):
        url = f"http://site.org/{i}.html"
        batch.add(Outcome(url, "page", 1), _page(url, str(i)))
    batch.add(Outcome("http://site.org/gone.html", "rejected", 1, "http_404"))
    batch.close()
    warc, log = batch.warc_path, batch.log_path
    # killed after writing a whole record but before its log line, then mid-way through another
    late = warc_record("http://site.org/late.html", _page("http://site.org/late.html", "late"))
    cut = warc_record("http://site.org/cut.html", _page("http://site.org/cut.html", "cut"))
    with open(warc, "ab") as f:
        f.write(late + cut[: len(cut) // 2])
    with open(log, "a") as f:
        f.write('{"url": "http://site.org/half')

    def describe(url, body, headers):
        links = extract_links(parse_html(body), url, "dataengine")
        return Outcome(url, "page", 7, links=links)

    assert recover_batch(warc, log, describe) == 1
    outcomes = read_log(log)
    assert [o.url.rsplit("/", 1)[1] for o in outcomes] == ["0.html", "1.html", "2.html", "gone.html", "late.html"]
    assert outcomes[-1].links == ["http://site.org/next-late.html"] and outcomes[-1].depth == 7
    assert warc.stat().st_size == outcomes[-1].offset + outcomes[-1].length  # the cut record is gone
    assert all(json.loads(line) for line in log.read_text().splitlines())
    docs = list(WarcSource(str(warc)).read(Partition("p", str(warc))))
    assert [d.url for d in docs] == [o.url for o in outcomes if o.kind == "page"]
    assert [d.source.offset for d in docs] == [o.offset for o in outcomes if o.kind == "page"]
    assert recover_batch(warc, log, describe) == 0  # nothing left to do


def test_concurrency_per_host_is_a_bound_seen_by_the_server(tmp_path):
    with FaultServer(stall_seconds=5) as server:
        settings = WorkerSettings(str(tmp_path / "state"), PolitenessConfig(delay=0, concurrency_per_host=2),
                                  FetchConfig(read_timeout=0.3, retries=0), Scope(ScopeConfig(), [server.url]),
                                  True, None, 10)
        worker = FetchWorker(settings, 0)
        outcomes = worker.fetch(origin(server.url), [Task(server(f"/fault/stall?n={i}")) for i in range(5)])
        worker.close()
        starts = [r.time for r in server.requests if r.path.startswith("/fault/stall")]
    assert [o.reason for o in outcomes] == ["read_timeout"] * 5
    # each request is held for the 0.3 s read timeout: a third may only start once one of two gave up
    assert len(starts) == 5 and all(c - a >= 0.25 for a, c in zip(starts, starts[2:])), starts
    assert min(b - a for a, b in zip(starts, starts[1:])) < 0.25  # and two do run at once
