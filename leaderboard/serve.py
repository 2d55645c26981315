"""Serve a rendered leaderboard directory on localhost with the standard library.

``make_server(directory, port=0)`` returns a bound :class:`http.server.ThreadingHTTPServer`
(port 0 picks a free port; ``server.server_address`` says which) serving only ``directory``;
``serve(directory, port)`` runs it until interrupted. It binds to 127.0.0.1 by default: the
page is for looking at your own results, not a public web server. It serves files only:
a directory without an ``index.html`` (``/static/``, ``/plots/``) answers 404 instead of
listing its contents.
"""

from __future__ import annotations

import functools
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files; logs one line per request to stderr; no caching so re-renders show;
    never a directory listing."""

    def list_directory(self, path):  # noqa: ANN001 (stdlib signature)
        self.send_error(404, "Not Found")
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(
    directory: str | os.PathLike[str], port: int = 8000, host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """A server for ``directory`` bound to ``host:port`` (not yet serving)."""
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise FileNotFoundError(
            f"{directory} has no index.html; run `python -m leaderboard render --out {directory}` first"
        )
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve(directory: str | os.PathLike[str], port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve ``directory`` until Ctrl-C, printing the URL first."""
    with make_server(directory, port, host) as server:
        print(f"Serving {directory} at {url_of(server)} (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
