"""``SampleWebServer``: serve a generated sample web over HTTP on loopback, in a background thread.

Files are served with the Content-Type of their extension. Paths listed in ``_headers.json``
get those extra headers (``X-Robots-Tag: noai, noimageai`` for opted-out images). The
generator's own records (``ground_truth.jsonl``, ``_headers.json``) are not served, and
directories are not listed. ``sitemap.xml`` and ``robots.txt`` are written with root-relative
URLs; the server rewrites those to absolute URLs for the address it is serving on, because
the sitemap protocol requires absolute URLs.
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dataengine.sampleweb.generate import GROUND_TRUTH, HEADERS

_HIDDEN = {"/" + GROUND_TRUTH, "/" + HEADERS}
_ABSOLUTIZED = {"/sitemap.xml": re.compile(rb"(<loc>)/"), "/robots.txt": re.compile(rb"(Sitemap: )/")}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8",
        ".xml": "application/xml", ".css": "text/css", ".png": "image/png", ".jpg": "image/jpeg",
    }

    def _site_path(self) -> str:
        # Canonical form ("/a/b.png"), whatever dots, double slashes or escapes the request used,
        # so that hidden files and per-path headers cannot be dodged.
        relative = Path(self.translate_path(self.path)).relative_to(self.directory).as_posix()
        return "/" if relative == "." else "/" + relative

    def send_head(self):  # noqa: D102 - SimpleHTTPRequestHandler's hook
        path = self._site_path()
        local = Path(self.translate_path(self.path))
        if path in _HIDDEN or (local.is_dir() and not (local / "index.html").is_file()):
            self.send_error(404, "File not found")
            return None
        if path in _ABSOLUTIZED and local.is_file():
            body = _ABSOLUTIZED[path].sub(rb"\g<1>" + self.server.base_url.encode(), local.read_bytes())
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(local)))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        return super().send_head()

    def end_headers(self) -> None:
        for name, value in self.server.extra_headers.get(self._site_path(), {}).items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # quiet: tests and crawls make many requests
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    extra_headers: dict[str, dict[str, str]] = {}  # site path -> extra response headers
    base_url = ""


class _Server6(_Server):
    address_family = socket.AF_INET6


class SampleWebServer:
    """Serve the sample web in ``root`` at ``http://host:port/`` (port 0: any free port).

    Use ``start()``/``stop()`` or ``with SampleWebServer(root) as server: ... server.url``.
    Hosts other than loopback are refused unless ``allow_remote`` is set, so that a sample web
    is never exposed by accident.
    """

    def __init__(self, root: str | Path, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False) -> None:
        self.root = Path(root)
        if not (self.root / "index.html").is_file() or not (self.root / HEADERS).is_file():
            raise FileNotFoundError(f"{self.root} is not a sample web (no index.html or {HEADERS}); "
                                    "write one with `dataengine sample-web generate DIR`")
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to serve the sample web on non-loopback host {host!r}")
        self.host, self.port = host, port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``; valid once started."""
        if self._httpd is None:
            raise RuntimeError("the sample web server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> SampleWebServer:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        server_class = _Server6 if ":" in self.host else _Server
        self._httpd = server_class((self.host, self.port), partial(_Handler, directory=str(self.root)))
        self.port = self._httpd.server_address[1]
        self._httpd.extra_headers = json.loads((self.root / HEADERS).read_text())
        self._httpd.base_url = self.url
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sample-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> SampleWebServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
