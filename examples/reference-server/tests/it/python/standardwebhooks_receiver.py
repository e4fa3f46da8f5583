#!/usr/bin/env python3
"""A webhook receiver that verifies every delivery with the official `standardwebhooks` package.

Used by the reference server's test suite (tests/it/webhooks.rs) as an independent
implementation of Standard Webhooks verification.

Usage:

    standardwebhooks_receiver.py SECRET [PORT]

SECRET (`whsec_...`) may instead be given in the environment as STANDARDWEBHOOKS_SECRET.
PORT defaults to 0 (any free port). The server listens on 127.0.0.1 and prints one line,
`PORT <n>`, once it is ready.

- POST (any path): `standardwebhooks.Webhook(SECRET).verify(body, headers)`; answers 204 when
  the delivery verifies and 400 otherwise, counting both.
- GET /stats: JSON {"verified": n, "failed": n, "verified_ids": [webhook-id, ...],
  "failed_ids": [...], "event_ids": [the verified payloads' "id", ...], "errors": [...]}.

Exit status: 3 when the `standardwebhooks` package cannot be imported (install it with
`pip install standardwebhooks`), 2 on bad arguments.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import standardwebhooks
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"standardwebhooks Python package missing: {e}", file=sys.stderr)
    sys.exit(3)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.verified_ids = []
        self.failed_ids = []
        self.event_ids = []
        self.errors = []

    def snapshot(self):
        with self.lock:
            return {
                "verified": len(self.verified_ids),
                "failed": len(self.failed_ids),
                "verified_ids": list(self.verified_ids),
                "failed_ids": list(self.failed_ids),
                "event_ids": list(self.event_ids),
                "errors": list(self.errors),
            }


def make_handler(webhook, stats):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            pass

        def _answer(self, status, body=b"", content_type="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path == "/stats":
                body = json.dumps(stats.snapshot()).encode()
                self._answer(200, body, "application/json")
            else:
                self._answer(404, b"not found")

        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k: v for (k, v) in self.headers.items()}
            msg_id = self.headers.get("webhook-id") or ""
            try:
                payload = webhook.verify(body, headers)
            except Exception as e:  # any failure to verify is a failed delivery
                with stats.lock:
                    stats.failed_ids.append(msg_id)
                    stats.errors.append(f"{msg_id}: {type(e).__name__}: {e}")
                self._answer(400, f"verification failed: {e}".encode())
                return
            with stats.lock:
                stats.verified_ids.append(msg_id)
                stats.event_ids.append(payload.get("id") if isinstance(payload, dict) else None)
            self._answer(204)

    return Handler


def main(argv):
    args = argv[1:]
    secret = args[0] if args else os.environ.get("STANDARDWEBHOOKS_SECRET", "")
    if not secret:
        print("usage: standardwebhooks_receiver.py SECRET [PORT]", file=sys.stderr)
        return 2
    try:
        port = int(args[1]) if len(args) > 1 else 0
    except ValueError:
        print(f"not a port: {args[1]!r}", file=sys.stderr)
        return 2
    webhook = standardwebhooks.Webhook(secret)
    stats = Stats()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(webhook, stats))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
