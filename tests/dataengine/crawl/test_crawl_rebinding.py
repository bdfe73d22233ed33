"""DNS rebinding: a host name that resolves to an allowed address when it is checked and to a
refused one a moment later. Every fetcher must connect to the address it checked.

The name is answered by the test at ``socket.getaddrinfo``, the operating system's resolver
boundary: first with 127.0.0.2, where server A listens and which ``allow_private`` allows, then
with 127.0.0.1, where server B listens on the same port and which is not allowed. Both servers
are real and on loopback; B must never see a request.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fault_server import encode, photo

from dataengine.crawl.fetch import FetchConfig
from dataengine.crawl.frontier import Task
from dataengine.crawl.politeness import PolitenessConfig
from dataengine.crawl.scope import Scope, ScopeConfig
from dataengine.crawl.urls import origin
from dataengine.crawl.worker import FetchWorker, WorkerSettings
from dataengine.images.fetch import ImageFetcher
from dataengine.net.addresses import parse_allow_private
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, SourceRef

NAME = "rebinding.test"
CHECKED, REBOUND = "127.0.0.2", "127.0.0.1"
ALLOWED = [f"{CHECKED}/32"]
PAGE = b"<html><body><p>hello</p><img src='/photo.jpg'></body></html>"


class _Handler(BaseHTTPRequestHandler):
    server: _Site
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook
        self.server.paths.append(self.path)
        body, kind = {"/robots.txt": (b"User-agent: *\nAllow: /\n", "text/plain"),
                      "/photo.jpg": (self.server.jpeg, "image/jpeg")}.get(self.path, (PAGE, "text/html"))
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]):
        super().__init__(address, _Handler)
        self.paths: list[str] = []
        self.jpeg = encode(photo("rocket"), "JPEG")
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def sites(monkeypatch):
    """Servers A (checked address) and B (rebound address) on one port, and a rebinding resolver."""
    for _ in range(20):  # B needs A's port on another loopback address; retry if it is taken
        a = _Site((CHECKED, 0))
        try:
            b = _Site((REBOUND, a.server_address[1]))
            break
        except OSError:
            a.shutdown()
            a.server_close()
    else:
        pytest.skip("no port free on both loopback addresses")
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host, port, *args, **kwargs):
        if host != NAME:
            return real(host, port, *args, **kwargs)
        answers.append(CHECKED if not answers else REBOUND)
        return real(answers[-1], port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    yield a, b, answers
    for site in (a, b):
        site.shutdown()
        site.server_close()


def test_the_crawler_connects_to_the_address_it_checked(sites, tmp_path):
    a, b, answers = sites
    url = f"http://{NAME}:{a.server_address[1]}/page.html"
    settings = WorkerSettings(str(tmp_path / "state"), PolitenessConfig(delay=0), FetchConfig(retries=0),
                              Scope(ScopeConfig(), [url]), parse_allow_private(ALLOWED), None, 10)
    worker = FetchWorker(settings, 0)
    try:
        outcomes = worker.fetch(origin(url), [Task(url), Task(url.replace("page", "other"))])
    finally:
        worker.close()
    assert b.paths == []  # the rebound address was never contacted
    assert a.paths == ["/robots.txt", "/page.html", "/other.html"]
    assert [o.kind for o in outcomes] == ["page", "page"]
    assert answers == [CHECKED]  # one lookup, the one that was checked


def test_the_image_fetcher_connects_to_the_address_it_checked(sites):
    a, b, answers = sites
    url = f"http://{NAME}:{a.server_address[1]}/photo.jpg"
    doc = Document("doc0", url, SourceRef("crawl", "test"), images=[ImageRecord(0, url), ImageRecord(1, url)])
    ImageFetcher(allow_private=ALLOWED, retries=0)(Batch("p0", [doc]))
    assert b.paths == [] and a.paths == ["/robots.txt", "/photo.jpg", "/photo.jpg"]
    assert [i.status for i in doc.images] == ["ok", "ok"] and answers == [CHECKED]
