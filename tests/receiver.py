"""A webhook receiver for the callback tests (test_callbacks.py,
test_failover.py): a real HTTP server on 127.0.0.1, port 0, in a thread."""

import http.server
import ssl
import threading
import time

import harness


class Receiver:
    """A webhook receiver on 127.0.0.1, port 0, in a thread. answer(n, path)
    decides each answer: (status, extra headers, seconds to stall first);
    n counts requests from 0. Every request is recorded with its time."""

    def __init__(self, answer=None, tls=None):
        self.answer = answer or (lambda n, path: (200, {}, 0))
        self.requests = []
        self.cond = threading.Condition()
        self.closing = threading.Event()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with rec.cond:
                    n = len(rec.requests)
                    rec.requests.append({
                        "at": time.monotonic(), "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body})
                    rec.cond.notify_all()
                status, headers, stall = rec.answer(n, self.path)
                if stall:
                    rec.closing.wait(stall)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # cut or refused: fine
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True,
                                                 do_handshake_on_connect=False)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d/hook" % (scheme, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n, timeout=10):
        """The first n requests, once they have come."""
        deadline = time.monotonic() + timeout * harness.SLOW
        with self.cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                assert left > 0, "%d of %d requests came" % (len(self.requests), n)
                self.cond.wait(left)
            return list(self.requests[:n])

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
