"""Hostile input: the bearer token, requests refused from their headers, a
corpus of malformed requests, connection limits and slow clients."""

import http.client
import json
import os
import socket
import threading
import time

import harness
from harness import (Daemon, create, is_problem, metric, status_of, write_file,
                     write_json)

TOKEN = "s3cret-token-with-enough-entropy"


def config(extra=None, token=True):
    """A config file in a new directory: the token (if token) and extra."""
    d = harness.tmpdir()
    cfg = {}
    if token:
        path = write_file(d, "token", TOKEN + "\n", 0o600)
        cfg["auth"] = {"token_file": path}
    cfg.update(extra or {})
    return write_json(d, "evtaskd.json", cfg)


AUTH = {"Authorization": "Bearer " + TOKEN}


def test_token_required_on_v1():
    with Daemon("-c", config()) as d:
        for method, path in (("GET", "/v1/tasks"), ("POST", "/v1/tasks"),
                             ("GET", "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                             ("DELETE", "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                             ("GET", "/v1/events")):
            r = d.request(method, path)
            is_problem(r, 401)
            assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
        for bad in ("Bearer wrong", "Bearer " + TOKEN + "x", "Bearer " + TOKEN[:-1],
                    "Basic " + TOKEN, TOKEN, "Bearer", ""):
            is_problem(d.get("/v1/tasks", headers={"Authorization": bad}), 401)
        create(d, {"duration_ms": 1}, headers=AUTH)
        r = d.get("/v1/tasks", headers={"Authorization": "bearer " + TOKEN})
        assert r.status == 200


def test_healthz_open_metrics_closed():
    with Daemon("-c", config()) as d:
        assert d.get("/healthz").status == 200
        is_problem(d.get("/metrics"), 401)
        assert d.get("/metrics", headers=AUTH).status == 200


def test_metrics_public():
    cfg = config()
    with open(cfg) as f:
        c = json.load(f)
    c["auth"]["metrics_public"] = True
    write_json(os.path.dirname(cfg), "evtaskd.json", c)
    with Daemon("-c", cfg) as d:
        assert d.get("/metrics").status == 200
        is_problem(d.get("/v1/tasks"), 401)


def test_token_checked_before_the_body():
    """1 GiB announced without a token: 401 at once, connection closed,
    not a byte of the body read."""
    with Daemon("-c", config()) as d:
        host, port = d.host_port()
        s = socket.create_connection((host, port), timeout=5)
        t0 = time.monotonic()
        s.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: 1073741824\r\n\r\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break               # closed by the server
            out += chunk
        assert time.monotonic() - t0 < 3
        assert status_of(out) == 401, out
        s.close()
        assert d.get("/healthz").status == 200


def test_token_file_readable_by_others_warns():
    cfg = config()
    with open(cfg) as f:
        tok = json.load(f)["auth"]["token_file"]
    os.chmod(tok, 0o644)
    with Daemon("-c", cfg) as d:
        d.wait_log("can be read by others")


def test_token_reloaded_on_sighup():
    cfg = config()
    with open(cfg) as f:
        tok = json.load(f)["auth"]["token_file"]
    with Daemon("-c", cfg) as d:
        assert d.get("/v1/tasks", headers=AUTH).status == 200
        with open(tok, "w") as f:
            f.write("new-token\n")
        d.send_signal(1)
        d.wait_log("reloaded")
        is_problem(d.get("/v1/tasks", headers=AUTH), 401)
        assert d.get("/v1/tasks", headers={"Authorization": "Bearer new-token"}).status == 200


def test_missing_token_file_is_a_config_error():
    cfg = write_json(harness.tmpdir(), "c.json",
                     {"auth": {"token_file": "/nonexistent/token"}})
    code, _, err = harness.run_daemon("-c", cfg, "--memory", "-l", "127.0.0.1:0")
    assert code == 2 and "/nonexistent/token" in err, (code, err)


def malformed_corpus():
    """At least 100 hostile requests, each to be answered 4xx or closed."""
    reqs = []
    # Broken request lines and methods.
    for line in (b"GARBAGE", b"GET", b"GET /", b"GET / HTTP/1.1 extra",
                 b"GET  / HTTP/1.1", b" GET / HTTP/1.1", b"GET / HTTP/1",
                 b"GET / HTTP/2.0", b"GET / FTP/1.1", b"GET http://x/ HTTP/1.1",
                 b"\x00\x01\x02", b"\xff\xfe GET / HTTP/1.1", b"G\x00ET / HTTP/1.1",
                 b"GET /\x00 HTTP/1.1", b"GET /%00 HTTP/1.1", b"GET /%zz HTTP/1.1",
                 b"GET /v1/tasks/%ff%fe HTTP/1.1", b"GET /v1/tasks?state=%ff HTTP/1.1",
                 b"GET /v1/tasks?limit=99999999999999999999 HTTP/1.1",
                 b"GET /v1/tasks?page_token=%00 HTTP/1.1",
                 b"BREW /v1/tasks HTTP/1.1", b"DELETE /healthz HTTP/1.1",
                 b"PUT /v1/tasks HTTP/1.1", b"CONNECT x:80 HTTP/1.1",
                 b"OPTIONS * HTTP/1.1", b"TRACE / HTTP/1.1",
                 b"GET /" + b"a" * 20000 + b" HTTP/1.1",
                 b"GET /../../etc/passwd HTTP/1.1", b"GET /v1/tasks/../../x HTTP/1.1"):
        reqs.append(line + b"\r\nHost: localhost\r\n\r\n")
    # Bad headers.
    for hdr in (b"X-Big: " + b"a" * 20000, b"Content-Length: -5",
                b"Content-Length: 1\r\nContent-Length: 2",
                b"Content-Length: 5\r\nTransfer-Encoding: chunked",
                b"Transfer-Encoding: gzip", b"Content-Length: 18446744073709551616",
                b"Content-Length: 0x10", b"Bad Header Without Colon",
                b"\x00: \x00", b": empty-name", b"X: \xff\xfe\xfd",
                b"Content-Type: text/html\r\nContent-Length: 2",
                b"Authorization: Bearer " + b"x" * 5000,
                b"Idempotency-Key: " + b"k" * 300 + b"\r\nContent-Length: 2",
                b"Idempotency-Key: \x01\x02\r\nContent-Length: 2",
                b"Last-Event-ID: " + b"9" * 100):
        reqs.append(b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\n" + hdr + b"\r\n\r\n{}")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    reqs.append(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + many + b"\r\n")
    # Bodies: invalid JSON, wrong types, deep nesting, NUL, bad UTF-8.
    bodies = [b"", b"{", b"}", b"[", b"nul", b"{\"a\":}", b"{'a':1}",
              b"\xff\xfe", b"{\"name\":\"\xc3\x28\"}", b"{\"name\":\"\\ud800\"}",
              b"{\"name\":\"a\\u0000b\",\"duration_ms\":1}", b"\x00" * 10,
              b"[" * 60000, b"{\"a\":" * 30000, b"1e999999", b"-",
              b"{\"duration_ms\":1}{\"duration_ms\":2}", b"{\"a\":1,\"a\":2}"]
    for field in ("kind", "name", "delay_ms", "start_at", "timeout_ms",
                  "metadata", "duration_ms", "cleanup_ms", "job", "args"):
        for value in ("x", 1.5, -1, [], {}, True, None, 10 ** 30, "\u0000",
                      "9" * 400):
            bodies.append(json.dumps({field: value}).encode())
    for b in bodies:
        reqs.append(b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(b) + b)
    # A body shorter than announced, then the client stops.
    reqs.append(b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{")
    return reqs


def test_malformed_requests_answered_4xx_or_closed():
    with Daemon("--log-level", "warn") as d:
        corpus = malformed_corpus()
        assert len(corpus) >= 100, len(corpus)
        for data in corpus:
            out = d.raw(data, timeout=2, shut=True)
            st = status_of(out)
            # 505 is libmicrohttpd's answer to an HTTP version it lacks.
            assert st is None or 200 <= st < 500 or st == 505, (data[:120], out[:200])
        assert d.get("/healthz").status == 200
        create(d, {"duration_ms": 0})


def test_per_ip_limit_leaves_room_for_others():
    cfg = config({"limits": {"max_connections_per_ip": 5,
                             "connection_timeout_s": 60}}, token=False)
    with Daemon("-c", cfg) as d:
        host, port = d.host_port()
        hog = [socket.create_connection((host, port)) for _ in range(20)]
        # Another client (another loopback address) is served.
        for _ in range(3):
            c = socket.create_connection((host, port), source_address=("127.0.0.2", 0))
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            c.settimeout(5)
            out = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                out += chunk
            assert status_of(out) == 200, out
            c.close()
        # The hog's extra connections were closed by the server.
        closed = 0
        for s in hog:
            s.settimeout(2)
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                if s.recv(100) == b"":
                    closed += 1
            except (ConnectionResetError, BrokenPipeError, socket.timeout):
                closed += 1
            s.close()
        assert closed >= 15, closed


def test_idle_connections_time_out():
    cfg = config({"limits": {"connection_timeout_s": 1}}, token=False)
    with Daemon("-c", cfg) as d:
        host, port = d.host_port()
        s = socket.create_connection((host, port))
        s.settimeout(10)
        t0 = time.monotonic()
        assert s.recv(100) == b""           # closed by the server
        assert 0.5 < time.monotonic() - t0 < 5
        s.close()


def test_idle_timeout_reloaded():
    cfg = config({"limits": {"connection_timeout_s": 60}}, token=False)
    with Daemon("-c", cfg) as d:
        write_json(os.path.dirname(cfg), "evtaskd.json",
                   {"limits": {"connection_timeout_s": 1}})
        d.send_signal(1)
        d.wait_log("reloaded")
        host, port = d.host_port()
        s = socket.create_connection((host, port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.settimeout(10)
        assert status_of(s.recv(4096)) == 200
        t0 = time.monotonic()
        assert s.recv(100) == b""           # closed by the server
        assert time.monotonic() - t0 < 5
        s.close()


def test_timeout_never_cuts_waits():
    """connection_timeout_s does not cut a long-poll, a cancel waiting for
    its cleanup, or an event stream."""
    cfg = config({"limits": {"connection_timeout_s": 1}}, token=False)
    with Daemon("-c", cfg) as d:
        t = create(d, {"duration_ms": 60000, "cleanup_ms": 2500})
        t0 = time.monotonic()
        r = d.get("/v1/tasks/%s?wait=2.5" % t["id"])
        assert r.status == 200 and time.monotonic() - t0 >= 2.4, r
        s = harness.EventStream(d)
        r = d.delete("/v1/tasks/" + t["id"])
        assert r.status == 200 and r.json()["state"] == "cancelled", r
        assert time.monotonic() - t0 >= 4.8
        states = [json.loads(s.next_event()["data"])["state"] for _ in range(2)]
        assert states == ["cancelling", "cancelled"], states
        s.close()


def test_slowloris_does_not_starve_others():
    cfg = config({"limits": {"max_connections_per_ip": 10,
                             "connection_timeout_s": 5}}, token=False)
    with Daemon("-c", cfg) as d:
        host, port = d.host_port()
        stop = threading.Event()

        def trickle():
            socks = []
            for _ in range(30):
                try:
                    s = socket.create_connection((host, port))
                    s.sendall(b"GET /healthz HTTP/1.1\r\n")
                    socks.append(s)
                except OSError:
                    pass
            while not stop.is_set():
                for s in socks:
                    try:
                        s.sendall(b"X")
                    except OSError:
                        pass
                time.sleep(0.1)     # the thing under test: a slow client
            for s in socks:
                s.close()
        th = threading.Thread(target=trickle)
        th.start()
        try:
            for _ in range(20):
                c = http.client.HTTPConnection(host, port, timeout=5,
                                               source_address=("127.0.0.2", 0))
                r = d.request("GET", "/healthz", conn=c)
                assert r.status == 200
                c.close()
        finally:
            stop.set()
            th.join()


def test_long_polls_and_streams_count_against_limits_but_are_released():
    cfg = config({"limits": {"max_connections": 30}}, token=False)
    with Daemon("-c", cfg) as d:
        t = create(d, {"duration_ms": 60000})
        socks = []
        host, port = d.host_port()
        for _ in range(20):
            s = socket.create_connection((host, port))
            s.sendall(("GET /v1/tasks/%s?wait=300 HTTP/1.1\r\nHost: localhost\r\n\r\n" % t["id"]).encode())
            socks.append(s)
        for s in socks:
            s.close()
        # The parked requests are released as their clients leave.
        harness.eventually(lambda: metric(d, "evtaskd_http_parked_requests") == 0)
        for _ in range(40):
            assert d.get("/healthz").status == 200


harness.run(globals())
