"""The shared robots.txt reader (``dataengine.net.robots``) on real files from a loopback server.

Every policy case runs through both fetchers' transports, wired as they wire them: the crawler's
``fetch`` (truncating at the cap, read by ``crawl.robots``) and the image fetcher's
``HttpClient.robots_hop``. The fault server's paths stand in for robots.txt files that answer
that way (``/status/503``, ``/redirect/loop-a``, ...). The callers' caches on top (the crawler's
on disk, the image fetcher's per host) are tested with them, in test_crawl_parts.py and
test_image_fetch.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fault_server import FaultServer

from dataengine.crawl.fetch import FetchConfig, fetch
from dataengine.crawl.politeness import HostGate, PolitenessConfig
from dataengine.crawl.robots import robots_answer
from dataengine.images.http import HttpClient, HttpConfig
from dataengine.net.pinned import PinnedPools
from dataengine.net.robots import ROBOTS_MAX_BYTES, RobotsAnswer, RobotsRules, product_token, read_robots

LOOPBACK = ["127.0.0.0/8"]
GROUPS = """# a comment
User-agent: otherbot
Disallow: /

User-agent: DataEngine
Disallow: /*.pdf$
Disallow: /private/
Allow: /private/open/
Crawl-delay: 2
Request-rate: 1/5s

User-agent: *
Disallow: /
"""


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer(stall_seconds=5) as srv:
        yield srv


@dataclass
class Reader:
    """One fetcher's way of reading robots.txt: its transport and its verdict on a lost redirect chain."""

    get: Callable[[str], RobotsAnswer]
    lost_redirect_allows: bool

    def __call__(self, url: str) -> RobotsRules:
        """The verdict of the robots.txt at ``url``."""
        return read_robots(url, self.get, self.lost_redirect_allows)


@pytest.fixture(params=["crawler", "images"])
def read(request) -> Iterator[Reader]:
    """The crawler's reader or the image fetcher's, wired as each fetcher wires it."""
    if request.param == "crawler":
        pools, gate, config = PinnedPools(LOOPBACK, 1), HostGate(1, 0.0), FetchConfig(retries=0, read_timeout=0.5)
        yield Reader(lambda u: robots_answer(fetch(pools, u, gate, config, max_bytes=ROBOTS_MAX_BYTES, truncate=True)),
                     lost_redirect_allows=True)
        pools.close()
    else:
        client = HttpClient(HttpConfig(allow_private=LOOPBACK, retries=0, read_timeout=0.5))
        yield Reader(client.robots_hop, lost_redirect_allows=False)
        client.close()


def _requests(server: FaultServer, read: Callable[[str], RobotsRules], path: str) -> tuple[RobotsRules, list[str]]:
    """The verdict for ``path`` and the paths the server was asked for meanwhile."""
    before = len(server.requests)
    rules = read(server(path))
    return rules, [r.path for r in server.requests[before:]]


def test_product_token_is_the_first_word_lower_cased():
    assert product_token("dataengine/1.0 (+https://example.org/bot)") == "dataengine"
    assert product_token("DataEngine-Test/2.0") == "dataengine-test"
    assert product_token("DataEngine (+https://example.org/bot)") == "dataengine"
    for agent in ("DataEngine/2.0", "dataengine-test/1.0 (+https://example.org)"):
        assert PolitenessConfig(user_agent=agent).robots_token == HttpConfig(user_agent=agent).robots_token


def test_a_file_is_parsed_with_groups_longest_match_and_delays(server, read):
    rules = read(server.add("/groups/robots.txt", GROUPS, "text/plain"))
    assert not rules.unavailable and rules.text == GROUPS
    token = product_token("DataEngine/2.0 (+https://example.org/bot)")  # the group is named in another case
    assert rules.allows(server("/doc.html"), token) and rules.allows(server("/doc.pdf?page=2"), token)
    assert not rules.allows(server("/doc.pdf"), token)  # ``*`` and ``$``
    assert not rules.allows(server("/private/a"), token) and rules.allows(server("/private/open/a"), token)
    assert not rules.allows(server("/doc.html"), "otherbot") and not rules.allows(server("/doc.html"), "somebot")
    assert rules.delay(token) == 5.0  # the larger of Crawl-delay 2 and Request-rate 1/5s
    assert rules.delay("somebot") is None


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_4xx_means_no_rules(server, read, status):
    rules = read(server(f"/status/{status}"))
    assert rules.allow_all and not rules.unavailable and rules.allows(server("/anything"), "dataengine")


@pytest.mark.parametrize("path, reason", [
    ("/status/500", "http_500"), ("/status/503", "http_503"),
    ("/status/429", "http_429"),  # come back later: not "no robots.txt"
    ("/fault/reset", "connection_"), ("/fault/stall", "read_timeout"),
    ("/redirect/private", "refused_address"),  # a hop to a refused address is never connected to
])
def test_a_5xx_or_no_answer_means_disallow_all(server, read, path, reason):
    rules = read(server(path))
    assert rules.unavailable and not rules.allows(server("/anything"), "dataengine")
    assert reason in rules.detail


def test_five_redirects_are_followed_even_when_fetches_follow_fewer(server):
    client = HttpClient(HttpConfig(allow_private=LOOPBACK, retries=0, max_redirects=0))
    rules, paths = _requests(server, Reader(client.robots_hop, lost_redirect_allows=False), "/redirect/chain/4")
    client.close()
    assert len(paths) == 6 and paths[-1] == "/ok/rocket.jpg"  # five redirects, then the file
    assert rules.text is not None and not rules.unavailable


@pytest.mark.parametrize("path, requests, detail", [
    ("/redirect/chain/5", 6, "too_many_redirects"),  # six redirects: the sixth is not followed
    ("/redirect/loop-a", 2, "redirect_loop"),  # seen as a loop on its way back, not asked six times
    ("/redirect/ftp", 1, "redirect_refused_scheme"),
])
def test_a_redirect_chain_that_reaches_no_file_is_lost(server, read, path, requests, detail):
    rules, paths = _requests(server, read, path)
    assert len(paths) == requests
    if read.lost_redirect_allows:  # the crawler: no rules
        assert rules.allow_all and rules.detail is None
    else:  # the image fetcher: the host is refused
        assert rules.unavailable and detail in rules.detail


def test_only_the_first_500_kib_count(server, read):
    head = "User-agent: *\nDisallow: /first\n"
    last = "Disallow: /last\n"
    padding = "#" * (ROBOTS_MAX_BYTES - len(head) - len(last) - 1) + "\n"
    text = head + padding + last + "Disallow: /past-the-cap\n"
    assert len((head + padding + last).encode()) == ROBOTS_MAX_BYTES
    rules = read(server.add("/big/robots.txt", text, "text/plain"))  # with its Content-Length, over the cap
    assert not rules.allows(server("/first"), "dataengine") and not rules.allows(server("/last"), "dataengine")
    assert rules.allows(server("/past-the-cap"), "dataengine")
