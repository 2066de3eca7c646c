"""The HTTP skeleton the tests' stand-in servers share
(`azure_keyvault_server.py`, `gcp_kms_server.py`): a threaded server on a
free port of 127.0.0.1, optionally over TLS, whose every GET and POST goes
to one `handle(handler, method)`; the handler answers JSON with
`reply(status, body, headers)` and reads its body with `body()`."""

from __future__ import annotations

import http.server
import json
import pathlib
import ssl
import threading
from typing import Callable


def serve(handle: Callable, tls: tuple[pathlib.Path, pathlib.Path] | None = None):
    """Starts the server; gives it and its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status: int, body: dict, headers: dict | None = None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self):
            handle(self, "GET")

        def do_POST(self):
            handle(self, "POST")

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
