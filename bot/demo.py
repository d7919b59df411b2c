"""The demo's local news site: sample feeds and article pages shipped in the package
(``bot/demo_data``, all invented), served on 127.0.0.1 at an ephemeral port."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

DATA = resources.files("bot") / "demo_data"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request (the demo stops fetching once a poll is
        # done) is not an error worth a traceback on the demo's console.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class DemoFeed:
    name: str
    path: str
    file: str
    content_type: str


def demo_feeds() -> list[DemoFeed]:
    """The sample feeds listed in ``demo_data/feeds.json``."""
    raw = json.loads((DATA / "feeds.json").read_text(encoding="utf-8"))
    return [DemoFeed(**item) for item in raw]


class DemoSite:
    """A tiny HTTP server for the sample feeds (with ETag, so the second poll is a 304)
    and their article pages. ``{base}`` in the files becomes the server's base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.feeds = demo_feeds()
        routes: dict[str, tuple[bytes, str]] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep the demo's output clean
                pass

            def do_GET(self) -> None:
                found = routes.get(self.path.split("?", 1)[0])
                if found is None:
                    self._send(404, b"not found", "text/plain; charset=utf-8", {})
                    return
                body, ctype = found
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", ctype, {"ETag": etag})
                    return
                self._send(200, body, ctype, {"ETag": etag})

            def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for key, value in extra.items():
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        self.httpd = _QuietServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        for feed in self.feeds:
            text = (DATA / feed.file).read_text(encoding="utf-8")
            routes[feed.path] = (text.replace("{base}", site.base).encode(), feed.content_type)
        articles = DATA / "articles"
        for item in articles.iterdir():
            if item.name.endswith(".html"):
                routes[f"/articles/{item.name}"] = (item.read_bytes(), "text/html; charset=utf-8")
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, feed: DemoFeed) -> str:
        return self.base + feed.path

    def __enter__(self) -> DemoSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
