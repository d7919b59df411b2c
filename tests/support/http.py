"""``LocalServer``: a real threaded HTTP server on 127.0.0.1 with a mutable route table.

Its accept loop waits on the listening socket and a wake-up socket together, so ``stop()``
returns at once instead of after ``serve_forever``'s half-second poll.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Response:
    status: int = 200
    body: bytes | str = b""
    # A list of pairs sends a header more than once, as some servers do.
    headers: dict[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)


Handler = Callable[["Request"], Response]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer:
    """``server.route("/feed.xml", Response(body=...))`` or a callable taking a ``Request``.
    Every request is recorded in ``server.requests``."""

    def __init__(self) -> None:
        self.routes: dict[str, Response | Handler] = {}
        self.requests: list[Request] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                outer.requests.append(req)
                path = self.path.split("?", 1)[0]
                handler = outer.routes.get(self.path) or outer.routes.get(path)
                if handler is None:
                    resp = Response(404, b"not found")
                elif callable(handler):
                    resp = handler(req)
                else:
                    resp = handler
                if resp.delay:
                    time.sleep(resp.delay)  # a slow origin: the client's timeout is under test
                payload = resp.body.encode() if isinstance(resp.body, str) else resp.body
                try:
                    self.send_response(resp.status)
                    pairs = resp.headers
                    for k, v in pairs.items() if isinstance(pairs, dict) else pairs:
                        self.send_header(k, v)
                    if resp.status != 304:
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if resp.status != 304 and self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.httpd, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_read in ready:
                    return
                self.httpd.handle_request()  # the socket is readable: accepts without waiting

    def route(self, path: str, response: Response | Handler) -> str:
        self.routes[path] = response
        return self.base + path

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._wake_write.send(b"x")
        if self._thread.ident is not None:
            self._thread.join()
        self.httpd.server_close()
        self._wake_read.close()
        self._wake_write.close()
