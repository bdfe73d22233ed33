"""A loopback HTTP server that misbehaves on purpose, one fault per path.

Tests point fetchers at ``server.url + path`` and check that every fault ends as a
``rejected`` row with its own reason while everything else comes through. Paths::

    /status/404 /status/410 /status/500     that status, a short HTML body
    /status/503 /status/429                 that status with ``Retry-After: 1``, every time
    /flaky/<tag>                            503 + ``Retry-After: 1`` on the first request for <tag>, then a good JPEG
    /fault/reset                            the connection is reset (RST) without a response
    /fault/stall                            the request is read, then nothing is sent (read timeout)
    /fault/drip /fault/drip-page            200, Content-Length 4096, one byte every ``drip_interval`` s
                                            (served as image/jpeg and as text/html)
    /redirect/loop-a <-> /redirect/loop-b   a redirect loop
    /redirect/chain/<n>                     n redirects, then a good JPEG
    /redirect/ok                            one redirect to a good JPEG
    /redirect/ftp /redirect/file            redirects to refused schemes
    /redirect/private /redirect/metadata    redirects to 10.0.0.1 and 169.254.169.254 (never connect there)
    /img/too-large.jpg                      a real JPEG larger than LARGE_BYTES, with Content-Length
    /img/too-large-unsized.jpg              the same without Content-Length (ends at connection close)
    /img/wrong-type.jpg                     an HTML page served as text/html at an image URL
    /img/not-image.jpg                      HTML and junk bytes served as image/jpeg
    /img/truncated.jpg                      a real JPEG cut at 60 %
    /img/corrupt.jpg                        a real JPEG whose entropy-coded data has bit flips
    /img/bomb.png                           a 12000 x 12000 PNG of 180 KB (decompression bomb)
    /img/cmyk.jpg                           a real photo as a CMYK JPEG
    /img/16bit.png                          a real photo as a 16-bit grayscale PNG
    /img/animated.gif /img/animated.webp    three-frame animations of a real photo
    /img/drawing.svg                        an SVG drawing (image/svg+xml)
    /img/rotated.jpg                        a landscape photo stored sideways with EXIF Orientation 6
    /img/noai.jpg                           a good JPEG with ``X-Robots-Tag: noai, noimageai``
    /img/tdm.jpg                            a good JPEG with ``tdm-reservation: 1``
    /private/photo.jpg                      a good JPEG that robots.txt disallows
    /ok/<name>                              good images: see ``GOOD`` (photos from scikit-image)
    /pages/charset-header-utf8.html         windows-1252 bytes served as ``charset=utf-8``
    /pages/charset-meta-latin1.html         UTF-8 bytes whose <meta> says ``iso-8859-1``
    /robots.txt                             ``Disallow: /private/`` for every agent

``add(path, body, content_type, headers)`` serves extra content (pages, sitemaps). Every
request is logged (``requests``) and the highest number of requests in flight at once is
kept (``max_in_flight``), so tests can check retries, caching and per-host limits.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

# Payloads above this many bytes; a fetcher configured with max_bytes = LARGE_BYTES rejects them.
LARGE_BYTES = 300_000
DRIP_BYTES = 4096
# French prose with characters outside ASCII, so that a wrong charset shows in the decoded text.
CHARSET_TEXT = ("Le marché de Noël s'installe cette année sur la place de l'église. Les exposants, venus de "
                "toute la région, proposent des crêpes, du vin chaud et des décorations réalisées à la main. ")
GOOD = {"astronaut.jpg": ("astronaut", "JPEG"), "coffee.png": ("coffee", "PNG"),  # every one < LARGE_BYTES
        "chelsea.webp": ("chelsea", "WEBP"), "rocket.jpg": ("rocket", "JPEG"), "camera.png": ("camera", "PNG")}


@cache
def photo(name: str) -> Image.Image:
    """A photo bundled with scikit-image (``astronaut``, ``coffee``, ``chelsea``, ``rocket``, ``camera``)."""
    from skimage import data

    return Image.fromarray(getattr(data, name)())


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """``image`` saved in ``fmt`` (a PIL format name)."""
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def _corrupt_jpeg() -> bytes:
    data = bytearray(encode(photo("rocket"), "JPEG", quality=90))
    scan = data.index(b"\xff\xda") + 600  # well inside the entropy-coded data, headers intact
    for i in range(scan, len(data) - 2000, 211):
        data[i] ^= 0x5A
    return bytes(data)


def _rotated_jpeg() -> bytes:
    # Stored sideways (portrait pixels); Orientation 6 says "rotate 90 degrees clockwise to view".
    stored = photo("rocket").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=90, exif=exif)


def _animation(fmt: str) -> bytes:
    base = photo("chelsea").resize((120, 80))
    frames = [base.rotate(angle) for angle in (0, 120, 240)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _sixteen_bit_png() -> bytes:
    gray = np.asarray(photo("astronaut").convert("L")).astype(np.uint16) * 257  # full 16-bit range
    return encode(Image.fromarray(gray), "PNG")


def _bomb() -> bytes:
    # A bilevel image blown up with nearest-neighbour: 144 megapixels that deflate to ~180 KB.
    return encode(photo("camera").convert("1").resize((12000, 12000), Image.Resampling.NEAREST), "PNG")


_SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        b'<circle cx="32" cy="32" r="30" fill="teal"/></svg>\n')
_ERROR_PAGE = b"<html><body><h1>Not an image</h1><p>Sorry.</p></body></html>\n"


def _charset_page(title: str) -> str:
    paragraphs = "".join(f"<p>{CHARSET_TEXT * 3}</p>" for _ in range(4))
    return (f"<html><head>{{meta}}<title>{title}</title></head>"
            f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>")


@cache
def static_routes() -> dict[str, tuple[bytes, str, dict[str, str]]]:
    """Every fixed path: ``path -> (body, content type, extra headers)``; built once per process."""
    jpeg = encode(photo("astronaut"), "JPEG", quality=90)
    large = encode(photo("astronaut").resize((1024, 1024)), "JPEG", quality=100)
    assert len(large) > LARGE_BYTES
    routes = {f"/ok/{name}": (encode(photo(src).reduce(2 if fmt == "PNG" else 1), fmt), f"image/{fmt.lower()}", {})
              for name, (src, fmt) in GOOD.items()}
    header_wrong = _charset_page("Déclaré utf-8").replace("{meta}", "").encode("cp1252")
    meta_wrong = _charset_page("Déclaré latin-1").replace(
        "{meta}", '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">').encode("utf-8")
    routes.update({
        "/img/too-large.jpg": (large, "image/jpeg", {}),
        "/img/too-large-unsized.jpg": (large, "image/jpeg", {}),
        "/img/wrong-type.jpg": (_ERROR_PAGE, "text/html; charset=utf-8", {}),
        "/img/not-image.jpg": (_ERROR_PAGE + bytes(range(256)) * 2, "image/jpeg", {}),
        "/img/truncated.jpg": (jpeg[: len(jpeg) * 6 // 10], "image/jpeg", {}),
        "/img/corrupt.jpg": (_corrupt_jpeg(), "image/jpeg", {}),
        "/img/bomb.png": (_bomb(), "image/png", {}),
        "/img/cmyk.jpg": (encode(photo("coffee").convert("CMYK"), "JPEG", quality=90), "image/jpeg", {}),
        "/img/16bit.png": (_sixteen_bit_png(), "image/png", {}),
        "/img/animated.gif": (_animation("GIF"), "image/gif", {}),
        "/img/animated.webp": (_animation("WEBP"), "image/webp", {}),
        "/img/drawing.svg": (_SVG, "image/svg+xml", {}),
        "/img/rotated.jpg": (_rotated_jpeg(), "image/jpeg", {}),
        "/img/noai.jpg": (jpeg, "image/jpeg", {"X-Robots-Tag": "noai, noimageai"}),
        "/img/tdm.jpg": (jpeg, "image/jpeg", {"tdm-reservation": "1"}),
        "/private/photo.jpg": (jpeg, "image/jpeg", {}),
        "/pages/charset-header-utf8.html": (header_wrong, "text/html; charset=utf-8", {}),
        "/pages/charset-meta-latin1.html": (meta_wrong, "text/html", {}),
        "/robots.txt": (b"User-agent: *\nDisallow: /private/\n", "text/plain", {}),
    })
    return routes


_REDIRECTS = {
    "/redirect/loop-a": "/redirect/loop-b", "/redirect/loop-b": "/redirect/loop-a",
    "/redirect/ok": "/ok/astronaut.jpg",
    "/redirect/ftp": "ftp://127.0.0.1/photo.jpg", "/redirect/file": "file:///etc/passwd",
    "/redirect/private": "http://10.0.0.1/photo.jpg",
    "/redirect/metadata": "http://169.254.169.254/latest/meta-data/",
}


@dataclass
class Request:
    """One request the server saw."""

    time: float  # time.monotonic()
    path: str
    user_agent: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook
        srv = self.server
        srv.log(Request(time.monotonic(), self.path, self.headers.get("User-Agent", "")))
        with srv.in_flight():
            self._route(self.path.split("?", 1)[0])

    def _route(self, path: str) -> None:
        srv = self.server
        if path in srv.extra:
            self._send(*srv.extra[path])
        elif path in ("/img/too-large-unsized.jpg",):
            self._send_unsized(static_routes()[path][0], "image/jpeg")
        elif path in static_routes():
            self._send(*static_routes()[path])
        elif path.startswith("/status/") and path[8:].isdigit():
            code = int(path[8:])
            self._send(_ERROR_PAGE, "text/html", {"Retry-After": "1"} if code in (429, 503) else {}, code)
        elif path.startswith("/flaky/"):
            if srv.first_time(path):
                self._send(_ERROR_PAGE, "text/html", {"Retry-After": "1"}, 503)
            else:
                self._send(*static_routes()["/ok/astronaut.jpg"][:2])
        elif path in _REDIRECTS:
            self._send(b"", "text/plain", {"Location": _REDIRECTS[path]}, 302)
        elif path.startswith("/redirect/chain/") and path[16:].isdigit():
            n = int(path[16:])
            target = f"/redirect/chain/{n - 1}" if n > 0 else "/ok/rocket.jpg"
            self._send(b"", "text/plain", {"Location": target}, 302)
        elif path == "/fault/reset":
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif path == "/fault/stall":
            srv.stopping.wait(srv.stall_seconds)
            self.close_connection = True
        elif path in ("/fault/drip", "/fault/drip-page"):
            self._drip("text/html" if path.endswith("page") else "image/jpeg")
        else:
            self._send(_ERROR_PAGE, "text/html", {}, 404)

    def _send(self, body: bytes, content_type: str, headers: dict[str, str] | None = None, code: int = 200) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_unsized(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(body)

    def _drip(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(DRIP_BYTES))
        self.end_headers()
        self.close_connection = True
        payload = static_routes()["/ok/astronaut.jpg"][0][:DRIP_BYTES]
        try:
            for i in range(DRIP_BYTES):
                self.wfile.write(payload[i:i + 1])
                if self.server.stopping.wait(self.server.drip_interval):
                    return
        except OSError:  # the client gave up, as it should
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients hang up on purpose here (size limits, timeouts); that is not a server error

    def __init__(self, address, stall_seconds: float, drip_interval: float):
        super().__init__(address, _Handler)
        self.stall_seconds = stall_seconds
        self.drip_interval = drip_interval
        self.stopping = threading.Event()
        self.extra: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        self.requests: list[Request] = []
        self.max_in_flight = 0
        self._current = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def first_time(self, path: str) -> bool:
        with self._lock:
            first = path not in self._seen
            self._seen.add(path)
            return first

    def in_flight(self) -> _InFlight:
        return _InFlight(self)


class _InFlight:
    def __init__(self, server: _Server):
        self.server = server

    def __enter__(self) -> None:
        with self.server._lock:
            self.server._current += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server._current)

    def __exit__(self, *exc) -> None:
        with self.server._lock:
            self.server._current -= 1


class FaultServer:
    """Serve the faults above on ``http://127.0.0.1:PORT/`` in a background thread.

    ``stall_seconds`` bounds how long ``/fault/stall`` keeps a connection silent (a fetcher
    should give up long before) and ``drip_interval`` is the pause between dripped bytes.
    """

    def __init__(self, stall_seconds: float = 20.0, drip_interval: float = 0.2):
        static_routes()  # build the payloads before the first request, not during it
        self._server = _Server(("127.0.0.1", 0), stall_seconds, drip_interval)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __call__(self, path: str) -> str:
        """The absolute URL of ``path``."""
        return self.url + path.lstrip("/")

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in arrival order."""
        with self._server._lock:
            return list(self._server.requests)

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being answered at the same moment."""
        return self._server.max_in_flight

    def add(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None) -> str:
        """Serve ``body`` at ``path`` from now on; returns its absolute URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self._server.extra[path] = (data, content_type, dict(headers or {}))
        return self(path)

    def start(self) -> FaultServer:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release stalled and dripping connections, stop serving and free the port."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
