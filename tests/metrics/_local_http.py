"""A real local HTTP server for the `http` and `prometheus` metric tests: each path
answers what its entry in `routes` says (status, JSON text, optional delay)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, str] | tuple[int, str, float]
Route = Callable[[dict[str, list[str]], dict[str, str]], Answer]


def body(document: Any) -> str:
    return json.dumps(document)  # NaN and Infinity written as Python does, as some APIs do


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append({"path": parts.path, **headers})
            route = routes.get(parts.path)
            answer: Answer = (404, '{"error": "no such path"}')
            if route is not None:
                answer = route(parse_qs(parts.query), headers)
            if len(answer) == 3:
                time.sleep(answer[2])
            data = answer[1].encode()
            try:
                self.send_response(answer[0])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out first

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
