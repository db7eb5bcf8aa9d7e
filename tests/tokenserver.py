"""A stand-in for a cloud OAuth2 token endpoint (the one thing the tests cannot run for real), on loopback."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator


class TokenEndpoint(BaseHTTPRequestHandler):
    """Answers every POST with answer(form): subclasses say what the endpoint replies to the form it was sent."""

    def answer(self, form: str) -> tuple[int, dict]:  # pragma: no cover - every endpoint overrides it
        raise NotImplementedError

    def do_POST(self):  # noqa: N802 - http.server's hook name
        status, payload = self.answer(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(payload).encode())

    def log_message(self, *args):
        pass


@contextmanager
def serving(endpoint: type[TokenEndpoint]) -> Iterator[str]:
    """The endpoint on a free loopback port, for as long as the block runs; yields its token URL."""
    server = HTTPServer(("127.0.0.1", 0), endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token"
    finally:
        server.shutdown()
